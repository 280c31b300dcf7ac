"""Every text the kiosk shows to citizens, in Vietnamese (kept together so they can be reviewed)."""
from __future__ import annotations

import math

TAKE_NUMBER = "MỜI CHỌN LĨNH VỰC ĐỂ LẤY SỐ"
PRIORITY_BUTTON = "ƯU TIÊN"
PRIORITY_BUTTON_HINT = "Người cao tuổi, phụ nữ mang thai, người khuyết tật, người có công"
PRIORITY_TITLE = "CHỌN ĐỐI TƯỢNG ƯU TIÊN"
PRIORITY_NOTE = "Cán bộ có thể đề nghị xuất trình giấy tờ chứng minh khi được gọi."
PRIORITY_FIELDS_TITLE = "Ưu tiên: {name} — mời chọn lĩnh vực"
PRIORITY_SOONER = "Số ưu tiên được gọi sớm hơn"  # under a field on the priority path, instead of its queue
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
# before opening the estimate counts from the opening: say so, or "nobody ahead" and a wait of 25
# minutes contradict each other
NOT_OPEN_YET = "Trung tâm chưa đến giờ làm việc"
TICKET_QR = "Quét mã để theo dõi lượt và đánh giá"
TICKET_PRINTING = "Đang in vé…"
TICKET_PRINTED = "Mời nhận vé ở khe bên dưới"
TICKET_NO_PRINTER = "Vui lòng chụp mã QR để theo dõi lượt của bạn"
TICKET_PRIORITY = "Ưu tiên: {name}"
PRIORITY_WORD = "Ưu tiên"

# The printed ticket (kiosk/ticket.py) says the same things as the screen, the same way.
PAPER_TITLE = "SỐ THỨ TỰ"
PAPER_ISSUED = "Thời gian lấy số: {at}"
PAPER_THANK_YOU = "Cảm ơn quý khách!"
AHEAD = "Có {n} người đang chờ trước bạn"
NOBODY_AHEAD = "Không có ai chờ trước bạn"
WAIT_UNDER_A_MINUTE = "dưới 1 phút"
WAIT_MINUTES = "khoảng {minutes} phút"
WAIT_HOURS = "khoảng {hours} giờ"
WAIT_HOURS_MINUTES = "khoảng {hours} giờ {minutes} phút"

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

# Check-in of a number or appointment booked online (kiosk/checkin.py)
CHECKIN_BUTTON = "ĐÃ ĐẶT SỐ TRỰC TUYẾN"
CHECKIN_BUTTON_HINT = "Quét mã QR hoặc nhập mã đặt số"
CHECKIN_TITLE = "NHẬP MÃ ĐẶT SỐ"
CHECKIN_HINT = "Hoặc đưa mã QR trên điện thoại vào đầu đọc mã"
CHECKIN_ERASE = "Xóa"
CHECKIN_CONFIRM = "Xác nhận"
CHECKIN_WORKING = "Đang kiểm tra mã đặt số…"
REFUSED.update({
    "booking_not_found": "Không tìm thấy mã đặt số. Xin vui lòng kiểm tra lại mã.",
    "lapsed": "Số đã đặt đã hết hiệu lực. Xin vui lòng lấy số mới.",
    "too_early": "Chưa đến ngày hoặc giờ xác nhận của lịch hẹn này.",
    "already_checked_in": "Mã đặt số này đã được xác nhận rồi.",
    "booking_cancelled": "Số đã đặt này đã bị hủy.",
})


def format_ahead(ahead: int) -> str:
    """"Có 3 người đang chờ trước bạn" (or nobody)."""
    return NOBODY_AHEAD if ahead <= 0 else AHEAD.format(n=ahead)


def wait_lines(est_wait_s: int | float | None, reason: str | None) -> list[str]:
    """The ticket's wait lines (screen and paper): the estimate, after "not open yet" when it counts
    from the next opening (the server's `est_wait_reason` "opens_later")."""
    wait = format_wait(est_wait_s)
    if not wait:
        return []
    return ([NOT_OPEN_YET] if reason == "opens_later" else []) + [TICKET_WAIT.format(wait=wait)]


def format_wait(seconds: int | float | None) -> str | None:
    """"khoảng 25 phút", "dưới 1 phút", "khoảng 1 giờ 20 phút"; None -> None (no estimate: the line is left out)."""
    if seconds is None:
        return None
    if seconds < 60:
        return WAIT_UNDER_A_MINUTE
    minutes = int(math.floor(seconds / 60 + 0.5))
    if minutes < 60:
        return WAIT_MINUTES.format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    return (WAIT_HOURS_MINUTES if minutes else WAIT_HOURS).format(hours=hours, minutes=minutes)


def priority_line(label: str) -> str:
    """"Ưu tiên: Người cao tuổi" (a label that already says "Ưu tiên" is not prefixed twice)."""
    label = label.strip()
    return label if label.casefold().startswith(PRIORITY_WORD.casefold()) else TICKET_PRIORITY.format(name=label)


def closed_reason(reason: str | None) -> str:
    return CLOSED_REASONS.get(reason or "", CLOSED_OTHER)


def refused(code: str) -> str:
    return REFUSED.get(code, REFUSED_OTHER)


def field_queue_lines(waiting: int, est_wait_s: int | None, one_line: bool = False) -> list[str]:
    """Under a field's name: how many wait, and the estimated wait (on one line when space is short)."""
    if not waiting:
        return [NOBODY_WAITING]
    wait = format_wait(est_wait_s)
    if not wait:
        return [WAITING.format(n=waiting)]
    if one_line:
        return [f"{WAITING.format(n=waiting)} · {wait}"]
    return [WAITING.format(n=waiting), WAIT_ESTIMATE.format(wait=wait)]


def counters_text(numbers: list[int]) -> str:
    return TICKET_COUNTER.format(numbers=", ".join(str(n) for n in numbers)) if numbers else ""
