"""Copies one file out of a downloaded wheel.

python -m deploy.schema_from_wheel WHEEL MEMBER OUT
"""

import sys
import zipfile
from pathlib import Path


def main() -> None:
    wheel, member, out = sys.argv[1:4]
    with zipfile.ZipFile(wheel) as archive:
        Path(out).write_bytes(archive.read(member))


if __name__ == "__main__":
    main()
