"""Ticket rendering: 1-bit image of the right width, wrapped Vietnamese text, a scannable QR; the ticket's
wording (kiosk/ticket.py, kiosk/texts.py)."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import qrcode
from layso.hardware.ticket_render import (
    LaidOutQR,
    LaidOutText,
    TicketLayout,
    TicketPrint,
    layout_ticket,
    load_font,
    render_ticket,
    wrap_balanced,
    wrap_text,
)
from PIL import Image, ImageChops

from layso.kiosk.texts import format_ahead, format_wait
from layso.kiosk.ticket import TicketContent, compose

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
ICT = timezone(timedelta(hours=7))
LONG_FIELD = "Lao động – Người có công – Bảo trợ xã hội"
URL = "https://layso.bacninh.gov.vn/t/Zx8Kq2LmN4pR7sTvW3yB"


def make_ticket(**changes) -> TicketPrint:
    ticket = TicketContent(
        centre_name="Trung tâm Phục vụ hành chính công tỉnh Bắc Ninh",
        number="1005",
        field_name=LONG_FIELD,
        destination="Quầy 3, 4",
        issued_at=datetime(2026, 11, 22, 7, 45, tzinfo=ICT),
        ahead=12,
        est_wait_s=80 * 60,
        track_url=URL,
        priority_label="Người cao tuổi",
        header_lines=("UBND TỈNH BẮC NINH",),
    )
    return compose(replace(ticket, **changes))


def ink_outside(image: Image.Image, allowed: list[tuple[int, int, int, int]]):
    """Bounding box of the printed (black) dots outside every allowed box, or None."""
    ink = ImageChops.invert(image.convert("L"))
    for box in allowed:
        ink.paste(0, box)
    return ink.getbbox()


def boxes(layout: TicketLayout) -> list[tuple[int, int, int, int]]:
    return [item.box for item in layout.items]


@pytest.mark.parametrize("width", [576, 384])
def test_rendered_ticket_is_one_bit_and_exactly_paper_wide(width: int) -> None:
    ticket = make_ticket()
    image = render_ticket(ticket, width)
    ARTIFACTS.mkdir(exist_ok=True)
    image.save(ARTIFACTS / f"ticket-{width}.png")
    render_ticket(make_ticket(field_name="Đất đai", number="A005", ahead=0, est_wait_s=25 * 60),
                  width).save(ARTIFACTS / f"ticket-{width}-dat-dai.png")
    render_ticket(make_ticket(field_name="Bảo hiểm xã hội", number="12345", priority_label=None,
                              destination="Khu B", est_wait_s=30), width).save(
        ARTIFACTS / f"ticket-{width}-bhxh.png")
    assert image.mode == "1"
    assert image.width == width
    assert image.height == layout_ticket(ticket, width).height
    assert image.height > width  # a tall ticket, not a stub


@pytest.mark.parametrize("width", [576, 384])
@pytest.mark.parametrize("changes", [
    {},
    {"number": "A005"},
    {"number": "12345", "field_name": "Bảo hiểm xã hội"},
    {"field_name": "Hướng dẫn / hỗ trợ dịch vụ công trực tuyến", "destination": "Khu B"},
    {"centre_name": "Trung tâm Phục vụ hành chính công phường Nguyễn Trãi, thành phố Hải Dương",
     "field_name": "Sở Nông nghiệp và Môi trường (Đất đai, môi trường, tài nguyên nước)"},
    {"field_name": "Giấyphépláixekhôngcókhoảngtrắngnàocảdàiquámứcchophép"},  # no space to break at
    {"track_url": URL + "/" + "x" * 200},  # a long link: a denser QR, still inside
])
def test_every_box_lies_inside_the_ticket(width: int, changes: dict) -> None:
    layout = layout_ticket(make_ticket(**changes), width)
    assert layout.width == width
    for left, top, right, bottom in boxes(layout):
        assert 0 <= left < right <= width
        assert 0 <= top < bottom <= layout.height


@pytest.mark.parametrize("width", [576, 384])
def test_lines_do_not_overlap_and_ink_stays_in_the_boxes(width: int) -> None:
    layout = layout_ticket(make_ticket(), width)
    distinct = sorted(set(boxes(layout)), key=lambda b: b[1])
    for upper, lower in zip(distinct, distinct[1:]):
        assert upper[3] <= lower[1], f"{upper} overlaps {lower}"

    image = render_ticket(make_ticket(), width)
    assert ink_outside(image, distinct) is None, "dots outside every laid-out box (clipped glyph?)"
    ink = ImageChops.invert(image.convert("L"))  # printed dots are non-zero
    for item in layout.texts():
        assert ink.crop(item.box).getbbox() is not None, f"nothing drawn for {item.text!r}"


@pytest.mark.parametrize("width", [576, 384])
def test_long_field_name_wraps_without_losing_words(width: int) -> None:
    layout = layout_ticket(make_ticket(), width)
    lines = [item.text for item in layout.texts("field")]
    assert " ".join(lines) == LONG_FIELD
    if width == 384:
        assert len(lines) >= 2
    for item in layout.texts("field"):
        assert load_font(item.size, item.bold).getlength(item.text) < width
        assert 0 < item.box[0] and item.box[2] < width
    # a dash never starts a line: the name breaks after "–"
    assert not any(line.startswith("–") for line in lines)


def test_text_is_normalised_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Bảo hiểm xã hội")
    assert decomposed != "Bảo hiểm xã hội"
    layout = layout_ticket(make_ticket(field_name=decomposed, centre_name=unicodedata.normalize(
        "NFD", "Trung tâm Phục vụ hành chính công")), 576)
    for item in layout.texts():
        assert unicodedata.is_normalized("NFC", item.text)
    assert " ".join(i.text for i in layout.texts("field")) == "Bảo hiểm xã hội"


def test_the_expected_lines_are_printed() -> None:
    texts = [item.text for item in layout_ticket(make_ticket(), 576).texts()]
    for expected in ["UBND TỈNH BẮC NINH", "SỐ THỨ TỰ", "1005", "Mời đến: Quầy 3, 4",
                     "Ưu tiên: Người cao tuổi", "Thời gian lấy số: 22/11/2026 07:45",
                     "Có 12 người đang chờ trước bạn",
                     "Thời gian chờ dự kiến: khoảng 1 giờ 20 phút",
                     "Quét mã để theo dõi lượt và đánh giá", "Cảm ơn quý khách!"]:
        assert expected in texts
    assert texts.index("SỐ THỨ TỰ") < texts.index("1005") < texts.index("Mời đến: Quầy 3, 4")


def test_optional_lines_are_left_out() -> None:
    layout = layout_ticket(make_ticket(destination="", priority_label=None, est_wait_s=None,
                                       track_url=None, ahead=0, header_lines=()), 576)
    roles = {item.role for item in layout.items}
    assert not roles & {"destination", "priority", "wait", "qr", "qr_caption", "header"}
    assert "Không có ai chờ trước bạn" in [item.text for item in layout.texts("ahead")]


def test_a_ticket_taken_before_opening_says_the_wait_counts_from_the_opening() -> None:
    """Nobody ahead and a 25-minute wait contradict each other unless the ticket says the centre has
    not opened yet (the estimate's reason "opens_later")."""
    layout = layout_ticket(make_ticket(ahead=0, est_wait_s=25 * 60, est_wait_reason="opens_later"), 576)
    assert [i.text for i in layout.texts("wait")] == ["Trung tâm chưa đến giờ làm việc",
                                                     "Thời gian chờ dự kiến: khoảng 25 phút"]
    open_now = layout_ticket(make_ticket(ahead=3, est_wait_s=25 * 60, est_wait_reason=None), 576)
    assert [i.text for i in open_now.texts("wait")] == ["Thời gian chờ dự kiến: khoảng 25 phút"]


def test_priority_label_already_prefixed_is_not_doubled() -> None:
    layout = layout_ticket(make_ticket(priority_label="Ưu tiên: Phụ nữ mang thai"), 576)
    assert [i.text for i in layout.texts("priority")] == ["Ưu tiên: Phụ nữ mang thai"]


def test_issue_time_is_printed_in_the_datetimes_own_offset() -> None:
    issued = datetime(2026, 11, 22, 0, 45, tzinfo=timezone.utc).astimezone(ICT)
    texts = [i.text for i in layout_ticket(make_ticket(issued_at=issued), 576).texts("issued")]
    assert texts == ["Thời gian lấy số: 22/11/2026 07:45"]


def test_a_naive_issue_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        make_ticket(issued_at=datetime(2026, 11, 22, 7, 45))


@pytest.mark.parametrize("width", [576, 384])
@pytest.mark.parametrize("number", ["1005", "A005", "12345", "7"])
def test_number_is_very_large_but_fits(width: int, number: str) -> None:
    layout = layout_ticket(make_ticket(number=number), width)
    (item,) = layout.texts("number")
    left, top, right, bottom = item.box
    assert 0 < left and right < width
    if len(number) >= 4:
        assert right - left >= 0.75 * width  # fills most of the width
    assert bottom - top >= 0.12 * width
    others = [i.size for i in layout.texts() if i.role != "number"]
    assert item.size > 2.5 * max(others)


@pytest.mark.parametrize("width", [576, 384])
def test_qr_pixels_match_a_regenerated_qr_matrix(width: int) -> None:
    layout = layout_ticket(make_ticket(), width)
    qr = layout.qr
    assert isinstance(qr, LaidOutQR) and qr.data == URL
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(URL)
    code.make(fit=True)
    matrix = code.get_matrix()
    assert qr.modules == len(matrix)
    assert qr.module_px >= 3  # at least 0.375 mm per module at 203 dpi
    image = render_ticket(make_ticket(), width)
    left, top, right, bottom = qr.box
    assert right - left == bottom - top == qr.modules * qr.module_px
    half = qr.module_px // 2
    for row, values in enumerate(matrix):
        for col, dark in enumerate(values):
            pixel = image.getpixel((left + col * qr.module_px + half, top + row * qr.module_px + half))
            assert (pixel == 0) == bool(dark), f"module {row},{col}"
    quiet = 4 * qr.module_px  # the quiet zone around the code is blank
    around = image.crop((left - quiet, top - quiet, right + quiet, bottom + quiet))
    inner = Image.new("1", around.size, 255)
    inner.paste(image.crop(qr.box), (quiet, quiet))
    assert ImageChops.difference(around.convert("L"), inner.convert("L")).getbbox() is None


@pytest.mark.parametrize("seconds, text", [
    (None, None), (0, "dưới 1 phút"), (59, "dưới 1 phút"), (60, "khoảng 1 phút"),
    (25 * 60, "khoảng 25 phút"), (25 * 60 + 29, "khoảng 25 phút"), (59 * 60 + 29, "khoảng 59 phút"),
    (3600, "khoảng 1 giờ"), (80 * 60, "khoảng 1 giờ 20 phút"), (2 * 3600 + 5 * 60, "khoảng 2 giờ 5 phút"),
])
def test_format_wait(seconds, text) -> None:
    assert format_wait(seconds) == text


def test_format_ahead() -> None:
    assert format_ahead(0) == "Không có ai chờ trước bạn"
    assert format_ahead(1) == "Có 1 người đang chờ trước bạn"
    assert format_ahead(37) == "Có 37 người đang chờ trước bạn"


@pytest.mark.parametrize("max_width", [120, 200, 300, 360, 542])
@pytest.mark.parametrize("text", [
    LONG_FIELD, "Trung tâm Phục vụ hành chính công tỉnh Bắc Ninh", "Đất đai",
    "Thời gian chờ dự kiến: khoảng 1 giờ 20 phút", "Bảo hiểm xã hội – Căn cước – Cư trú",
])
def test_wrapping_keeps_every_line_within_the_width(text: str, max_width: int) -> None:
    font = load_font(28, bold=True)
    for wrap in (wrap_text, wrap_balanced):
        lines = wrap(text, font, max_width)
        assert all(font.getlength(line) <= max_width for line in lines), lines
        assert " ".join(lines).split() == text.split()  # no word lost, none split (all fit)


def test_wrapping_breaks_an_overlong_word_by_characters() -> None:
    font = load_font(24)
    word = "Nghịđịnh118/2025/NĐ-CPvàThôngtư03/2025/TT-VPCP"
    lines = wrap_text(word, font, 150)
    assert len(lines) > 1 and "".join(lines) == word
    assert all(font.getlength(line) <= 150 for line in lines)


def test_width_outside_the_supported_range_is_refused() -> None:
    with pytest.raises(ValueError):
        render_ticket(make_ticket(), 100)


def test_laid_out_text_keeps_font_details() -> None:
    layout = layout_ticket(make_ticket(), 576)
    (title,) = layout.texts("title")
    assert isinstance(title, LaidOutText) and title.bold
    (band,) = layout.texts("priority")
    assert band.inverted and band.box[0] > 0 and band.box[2] < 576
