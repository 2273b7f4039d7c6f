"""@guard on plain Python functions: decided before they run, typed exceptions when blocked."""

from bastion.engine import Engine
from bastion.integrations.guard import ActionDenied, ApprovalRequired, configure, guard

configure(Engine.from_paths(["builtin:coding-agent"]))


@guard(capability="filesystem.read", target="path")
def read_file(path: str) -> str:
    return {"notes.txt": "key AKIAIOSFODNN7EXAMPLE"}.get(path, "")  # stands in for open(path).read()


@guard(capability="filesystem.write", target="path")
def write_file(path: str, content: str) -> None:
    print(f"wrote {path}")


print(read_file("notes.txt"))  # allowed; the secret in the result is redacted
for call in (lambda: read_file(".env"), lambda: write_file("src/auth/login.py", "x = 1")):
    try:
        call()
    except ActionDenied as e:
        print("denied:", e.reason)
    except ApprovalRequired as e:
        print("needs approval by", e.approver_roles, "id:", e.approval_id)
