"""Every text the kiosk shows to citizens, in Vietnamese (kept together so they can be reviewed)."""
from __future__ import annotations

# The printed ticket and the screen say the same thing the same way.
from layso.hardware.ticket_render import format_ahead as ticket_ahead  # noqa: F401 - used as texts.ticket_ahead
from layso.hardware.ticket_render import format_wait as wait_text  # noqa: F401 - used as texts.wait_text

TAKE_NUMBER = "MỜI CHỌN LĨNH VỰC ĐỂ LẤY SỐ"
PRIORITY_BUTTON = "ƯU TIÊN"
PRIORITY_BUTTON_HINT = "Người cao tuổi, phụ nữ mang thai, người khuyết tật, người có công"
PRIORITY_TITLE = "CHỌN ĐỐI TƯỢNG ƯU TIÊN"
PRIORITY_NOTE = "Cán bộ có thể đề nghị xuất trình giấy tờ chứng minh khi được gọi."
PRIORITY_FIELDS_TITLE = "Ưu tiên: {name} — mời chọn lĩnh vực"
BACK = "Quay lại"
DONE = "Xong"
PAGE_PREVIOUS = "Trang trước"
PAGE_NEXT = "Trang sau"
PAGE_OF = "Trang {page}/{pages}"
CONTINUED = "{agency} (tiếp)"

WAITING = "Đang chờ: {n} người"
NOBODY_WAITING = "Không có người chờ"
WAIT_ESTIMATE = "Dự kiến {wait}"

CLOSED_REASONS = {
    "daily_cap_reached": "Đã hết số",
    "outside_hours": "Ngoài giờ làm việc",
    "field_closed": "Ngoài giờ làm việc",
}
CLOSED_OTHER = "Tạm ngừng cấp số"

ISSUING = "Đang lấy số, xin chờ trong giây lát…"

TICKET_TITLE = "SỐ THỨ TỰ CỦA BẠN"
TICKET_GO_TO = "Mời đến: {destination}"
TICKET_COUNTER = "Quầy {numbers}"
TICKET_WAIT = "Thời gian chờ dự kiến: {wait}"
TICKET_QR = "Quét mã để theo dõi lượt và đánh giá"
TICKET_PRINTING = "Đang in vé…"
TICKET_PRINTED = "Mời nhận vé ở khe bên dưới"
TICKET_NO_PRINTER = "Vui lòng chụp mã QR để theo dõi lượt của bạn"
TICKET_PRIORITY = "Ưu tiên: {name}"

PRINTER_FAULTS = {
    "paper_out": "Máy in hết giấy — vui lòng chụp mã QR hoặc liên hệ cán bộ hướng dẫn",
    "cover_open": "Nắp máy in đang mở — vui lòng chụp mã QR hoặc liên hệ cán bộ hướng dẫn",
    "offline": "Máy in không hoạt động — vui lòng chụp mã QR hoặc liên hệ cán bộ hướng dẫn",
}

SERVER_AWAY = "Mất kết nối máy chủ — đang kết nối lại"
SERVER_AWAY_HINT = "Tạm thời chưa lấy được số. Xin vui lòng chờ hoặc liên hệ cán bộ hướng dẫn."
CONNECTING = "Đang kết nối máy chủ…"
UNAUTHORIZED = "Máy lấy số chưa được cấp quyền — vui lòng liên hệ cán bộ kỹ thuật"

REFUSED_TITLE = "CHƯA LẤY ĐƯỢC SỐ"
REFUSED = {
    "daily_cap_reached": "Lĩnh vực này đã hết số trong ngày hôm nay.",
    "field_closed": "Lĩnh vực này hiện ngoài giờ làm việc.",
    "offline": "Mất kết nối máy chủ. Xin vui lòng thử lại sau giây lát.",
    "too_many_requests": "Máy đang bận. Xin vui lòng thử lại sau giây lát.",
    "unauthorized": UNAUTHORIZED,
}
REFUSED_OTHER = "Xin vui lòng thử lại hoặc liên hệ cán bộ hướng dẫn."

WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


def closed_reason(reason: str | None) -> str:
    return CLOSED_REASONS.get(reason or "", CLOSED_OTHER)


def refused(code: str) -> str:
    return REFUSED.get(code, REFUSED_OTHER)


def field_queue_lines(waiting: int, est_wait_s: int | None, one_line: bool = False) -> list[str]:
    """Under a field's name: how many wait, and the estimated wait (on one line when space is short)."""
    if not waiting:
        return [NOBODY_WAITING]
    wait = wait_text(est_wait_s)
    if not wait:
        return [WAITING.format(n=waiting)]
    if one_line:
        return [f"{WAITING.format(n=waiting)} · {wait}"]
    return [WAITING.format(n=waiting), WAIT_ESTIMATE.format(wait=wait)]


def counters_text(numbers: list[int]) -> str:
    return TICKET_COUNTER.format(numbers=", ".join(str(n) for n in numbers)) if numbers else ""
