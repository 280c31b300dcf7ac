"""Every text the lobby display shows, in Vietnamese (NFC), kept together."""
from __future__ import annotations

WINDOW_TITLE = "layso — màn hình sảnh"

CALL_LABEL = "MỜI CÔNG DÂN SỐ"
RECALL_LABEL = "GỌI LẠI — MỜI CÔNG DÂN SỐ"
CALL_LINE = "{number} — QUẦY {counter}"
NO_CALL_YET = "CHƯA CÓ LƯỢT GỌI"
NO_CALL_HINT = "Xin mời quý khách lấy số thứ tự tại máy lấy số"

RECENT_TITLE = "VỪA GỌI"
RECENT_COUNTER = "Quầy {counter}"
RECENT_NONE = "Chưa có"

COUNTERS_TITLE = "QUẦY PHỤC VỤ"
COUNTER_HEAD = "Quầy"
SERVING_HEAD = "Đang phục vụ số"
FIELD_HEAD = "Lĩnh vực"
COUNTER_SHORT = "Quầy {counter}"
COUNTER_IDLE = "Chờ gọi số"
COUNTER_PAUSED = "Tạm dừng"
COUNTER_CLOSED = "Đóng"
COUNTER_PRIORITY = "Ưu tiên"
NO_COUNTERS = "Chưa có quầy nào"

FIELDS_TITLE = "SỐ NGƯỜI ĐANG CHỜ"
FIELD_NAME_HEAD = "Lĩnh vực"
WAITING_HEAD = "Đang chờ"
FIELD_NOT_ACCEPTING = {
    "field_closed": "Tạm ngừng nhận",
    "outside_hours": "Ngoài giờ làm việc",
    "daily_cap_reached": "Đã hết số",
}
NO_FIELDS = "Chưa có lĩnh vực nào"

PAGE = "Trang {page}/{pages}"

# On the ticker line where the centre takes appointments (DESIGN.md, "The remote channel").
APPOINTMENT_RULE = ("Công dân có lịch hẹn, xác nhận có mặt trong khung giờ đã hẹn, được phục vụ trước "
                    "người lấy số tại chỗ sau giờ hẹn.")
TICKER_SEPARATOR = "   •   "

OFFLINE = "Mất kết nối — đang kết nối lại"
CONNECTING = "Đang kết nối tới máy chủ…"
UNAUTHORIZED = "Mã thiết bị không hợp lệ — xin liên hệ quản trị viên"
