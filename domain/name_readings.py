"""How a person's name is read (フリガナ) and how the family is reached (電話番号).

Both are personal values of the household (sealed with the rest of its
people).  They are checked here, where the household is registered or
corrected, so the API, the console and the services apply the same rule.
A reading is kept as typed — katakana or hiragana — only NFKC-normalised
(half-width ｶﾅ becomes full-width); search folds kana itself.
"""

from __future__ import annotations

import re
import unicodedata

from yorisoi.domain.errors import DomainError

MAX_READING = 100
MAX_PHONE = 30

# Hiragana, katakana, the prolonged sound mark, iteration marks, the middle dot
# (between given and family names of foreign names) and spaces between names.
_KANA = re.compile(r"[\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe\u30fb \u3000]+")
# Digits, hyphens, parentheses, a leading + and spaces between groups.
_PHONE = re.compile(r"\+?[0-9()\- ]+")
# Dashes people type in a phone number, read as the hyphen (NFKC leaves them alone).
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−ー－"), "-")


class ReadingNotKanaError(DomainError):
    code = "reading_not_kana"
    message = "A reading is written in katakana or hiragana only."
    message_ja = "フリガナはカタカナまたはひらがなで入力してください。"


class ReadingTooLongError(DomainError):
    code = "reading_too_long"
    message = f"A reading has at most {MAX_READING} characters."
    message_ja = f"フリガナは{MAX_READING}文字以内で入力してください。"


class PhoneInvalidError(DomainError):
    code = "phone_invalid"
    message = ("A phone number has digits, hyphens and parentheses only: 10 or 11 digits "
               "starting with 0 (or +81), or an international number starting with +.")
    message_ja = ("電話番号は数字・ハイフン・括弧で、0（または+81）から始まる10桁か11桁、"
                  "海外の番号は+から入力してください。")


def reading_of(value: str | None, *, field: str) -> str | None:
    """The reading as stored (NFKC, trimmed), None when empty; refused unless kana."""
    if value is None:
        return None
    reading = unicodedata.normalize("NFKC", value).strip()
    if not reading:
        return None
    if len(reading) > MAX_READING:
        raise ReadingTooLongError(field=field)
    if not _KANA.fullmatch(reading):
        raise ReadingNotKanaError(field=field)
    return reading


def phone_of(value: str | None, *, field: str) -> str | None:
    """The phone number as stored (NFKC, dashes as hyphens), None when empty."""
    if value is None:
        return None
    phone = unicodedata.normalize("NFKC", value).translate(_DASHES).strip()
    if not phone:
        return None
    if len(phone) > MAX_PHONE or not _PHONE.fullmatch(phone) or "+" in phone[1:]:
        raise PhoneInvalidError(field=field)
    digits = phone_digits(phone)
    if phone.startswith("+81"):
        # +81 replaces the leading 0 of a Japanese number: 9 or 10 digits after it.
        national = "0" + digits[2:].removeprefix("0")
        plausible = 10 <= len(national) <= 11
    elif phone.startswith("+"):
        plausible = 8 <= len(digits) <= 15  # E.164
    else:
        plausible = digits.startswith("0") and 10 <= len(digits) <= 11
    if not plausible:
        raise PhoneInvalidError(field=field)
    return phone


def phone_digits(phone: str) -> str:
    """Only the digits of a phone number (what matching compares)."""
    return "".join(ch for ch in phone if ch.isdigit())
