"""R10: resident ID numbers (GB 11643) and unified social credit codes (GB 32100): scalar checks in
`checks`, column-wise checks in `vector`."""

from gongshu.kernel.identifiers.checks import (
    CheckResult,
    check_id_number,
    check_identifier,
    check_uscc,
    make_id_number,
    make_uscc,
    upgrade_legacy_id,
)

__all__ = [
    "CheckResult",
    "check_id_number",
    "check_identifier",
    "check_uscc",
    "make_id_number",
    "make_uscc",
    "upgrade_legacy_id",
]
