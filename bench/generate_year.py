"""Generate a year of a busy provincial centre (the simulation is `layso.bench.year`).

    python bench/generate_year.py --db sqlite:///year.db            # province preset, 2026
    python bench/generate_year.py --db postgresql://postgres@127.0.0.1:5432/layso_year --tickets 250000
    python bench/generate_year.py --db sqlite:///province.db --centres 100      # a province: 100 centres
"""
import sys

from layso.bench.year import main

if __name__ == "__main__":
    sys.exit(main())
