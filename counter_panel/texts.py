"""Every text the counter panel shows, in Vietnamese (NFC), in one place."""
from __future__ import annotations

COUNTER = "QUẦY"
SERVING = "ĐANG PHỤC VỤ SỐ"
PRIORITY = "Ưu tiên"
IDLE_TITLE = "Quầy sẵn sàng phục vụ"
IDLE_HINT = "Xin mời công dân chờ gọi số"
NO_OFFICER_TITLE = "Quầy chưa có cán bộ"
NO_OFFICER_HINT = "Xin mời công dân chờ trong giây lát"
FIELDS_SERVED = "Lĩnh vực"
PAUSED_TITLE = "TẠM DỪNG PHỤC VỤ"
PAUSED_HINT = "Xin vui lòng chờ trong giây lát."
CLOSED_TITLE = "QUẦY CHƯA MỞ"
CLOSED_HINT = "Xin mời công dân đến quầy khác cùng lĩnh vực."
OFFLINE_TITLE = "MẤT KẾT NỐI"
OFFLINE_HINT = "Đang kết nối lại với máy chủ…"
CONNECTING_TITLE = "Đang kết nối…"
ERROR_TITLE = "LỖI THIẾT BỊ"
ERROR_UNAUTHORIZED = "Máy chủ từ chối mã thiết bị này. Xin liên hệ quản trị viên."
ERROR_NOT_A_COUNTER = "Mã thiết bị này không gắn với quầy nào. Xin liên hệ quản trị viên."
ERROR_COUNTER_MISSING = "Quầy {counter} không còn trong cấu hình của trung tâm. Xin liên hệ quản trị viên."
LAST_NUMBER = "Số gần nhất: {number}"

RATE_TITLE = "Xin ông/bà đánh giá mức độ hài lòng"
RATE_TICKET = "Số {number} · {field}"
SECONDS_LEFT = "Còn {seconds} giây"
REASONS_TITLE = "Xin cho biết lý do chưa hài lòng"
BACK = "Quay lại"
SEND = "Gửi đánh giá"
SENDING = "Đang gửi…"
THANKS_TITLE = "Cảm ơn ông/bà đã đánh giá!"
THANKS_DEFAULT = "Chúc ông/bà một ngày tốt lành."
# Used when the centre's configuration lists no reasons (a low score must carry one).
DEFAULT_REASONS = ("Chờ lâu", "Thái độ chưa tốt", "Hướng dẫn chưa rõ ràng", "Khác")

SIGN_IN_BUTTON = "Cán bộ đăng nhập"
SIGN_IN_TITLE = "Cán bộ đăng nhập quầy"
USERNAME = "Tên đăng nhập"
PIN = "Mã PIN"
SIGN_IN = "Đăng nhập"
CANCEL = "Huỷ"
ERASE = "Xoá"

# The officer's strip of touch buttons (a panel whose officer has no keypad).
OFFICER_BUTTONS = {"next": "Gọi tiếp", "recall": "Gọi lại", "skip": "Vắng mặt", "complete": "Hoàn thành",
                   "pause": "Tạm dừng"}
RESUME_BUTTON = "Tiếp tục"

OFFICER = "Cán bộ: {name}"
NO_OFFICER = "Chưa có cán bộ đăng nhập"

# What the officer sees after a command (the bottom strip).
DONE = {
    "counter.next": "Đã gọi số {number}",
    "counter.next.empty": "Không còn công dân nào đang chờ",
    "counter.recall": "Đã gọi lại số {number}",
    "counter.skip": "Số {number} vắng mặt, đã đưa lại hàng chờ",
    "counter.skip.no_show": "Số {number} vắng mặt, đã kết thúc",
    "counter.complete": "Đã hoàn thành số {number}",
    "counter.pause": "Quầy đã tạm dừng",
    "counter.resume": "Quầy tiếp tục phục vụ",
    "counter.close": "Đã đóng quầy, kết thúc ca làm việc",
    "counter.signin": "{name} đã đăng nhập quầy",
    "rating": "Đã ghi nhận đánh giá số {number}",
}
TRANSFERRED_COUNTER = "Đã chuyển số {number} sang quầy {counter}"
TRANSFERRED_FIELD = "Đã chuyển số {number} sang lĩnh vực {field}"
SENDING_COMMAND = "Đang gửi lệnh…"
NOT_CONNECTED = "Chưa kết nối máy chủ, lệnh chưa được gửi"

# Errors by code: the server's own message (Vietnamese by default) is used for codes not listed.
ERRORS = {
    "offline": "Mất kết nối máy chủ, lệnh chưa được gửi",
    "timeout": "Máy chủ không trả lời kịp, xin thử lại",
    "counter_paused": "Quầy đang tạm dừng. Hãy tiếp tục trước.",
    "no_officer": "Chưa có cán bộ đăng nhập quầy: hãy đăng nhập bằng mã PIN rồi gọi số.",
    "counter_not_paused": "Quầy không ở trạng thái tạm dừng.",
    "no_current_ticket": "Quầy chưa phục vụ công dân nào.",
    "already_rated": "Lượt phục vụ này đã được đánh giá.",
    "window_over": "Đã hết thời gian đánh giá.",
    "not_served": "Chỉ đánh giá được sau khi hoàn thành.",
    "reason_required": "Xin chọn lý do chưa hài lòng.",
    "invalid_pin": "Sai tên đăng nhập hoặc mã PIN.",
    "invalid_body": "Thông tin chưa hợp lệ.",
    "forbidden": "Thiết bị không được phép làm việc này.",
    "unauthorized": "Máy chủ từ chối mã thiết bị.",
    "too_many_requests": "Thao tác quá nhanh, xin chờ một chút.",
    "internal_error": "Máy chủ gặp lỗi, xin thử lại.",
    "ticket_not_found": "Không tìm thấy số thứ tự này.",
    "ticket_not_waiting": "Số này không còn trong hàng chờ.",
    "invalid_transfer": "Không chuyển được sang quầy hoặc lĩnh vực này.",
    "invalid_dossier_code": "Mã hồ sơ chưa đúng.",
    "invalid_score": "Mức đánh giá chưa hợp lệ.",
    "invalid_reason": "Lý do chưa hợp lệ.",
    "invalid_reasons": "Lý do chưa hợp lệ.",
    "invalid_comment": "Góp ý quá dài hoặc chưa hợp lệ.",
    "invalid_credentials": "Sai tên đăng nhập hoặc mã PIN.",
    "counter_not_found": "Máy chủ không có quầy này.",
    "counter_open": "Quầy đang mở.",
    "malformed_body": "Thông tin chưa hợp lệ.",
    "database_unavailable": "Máy chủ tạm thời không ghi được dữ liệu, xin thử lại.",
    "storage_full": "Máy chủ hết chỗ lưu dữ liệu, xin báo quản trị viên.",
    "storage_read_only": "Máy chủ không ghi được dữ liệu, xin báo quản trị viên.",
}
# a code the panel has no words for: this, and the code for whoever looks into it (never the server's
# English message)
ERROR_FALLBACK = "Không thực hiện được lệnh"

KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl.", "zxcvbnm-_")
