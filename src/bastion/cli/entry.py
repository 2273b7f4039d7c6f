"""The `bastion` console script.

`bastion hook claude-code` runs once per tool call of a coding agent, so it skips the
CLI (click, every command module, pydantic) and goes straight to the hook's
standard-library client, which talks to the warm policy daemon.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:3] == ["hook", "claude-code"]:
        from bastion.integrations.hook_client import main as hook_main

        sys.exit(hook_main(sys.argv[2:]))
    from bastion.cli import main as cli_main

    cli_main()


if __name__ == "__main__":  # pragma: no cover
    main()
