"""Operating-system tools: services, disks, users, firewall, macOS settings and automation.

They yield `system.change` (`tool`, `verb`, `destructive`) when they change the
machine rather than a project: `systemctl stop`, `mkfs`, `diskutil eraseDisk`,
`csrutil disable`, `defaults write`, `crontab -r`, `iptables -F`, `userdel`.
macOS automation (`osascript`, `shortcuts run`, `automator`, `open -a App`) yields
`automation.run` with the application it drives; reading the keychain yields
`secrets.read` with `store: keychain`.
"""

from __future__ import annotations

import re

from bastion.analysis.emit import Emitter
from bastion.analysis.flags import OptionSpec, parse_args
from bastion.analysis.programs import register
from bastion.analysis.programs.generic import set_verb
from bastion.analysis.verbs import classify_word
from bastion.analysis.wrappers import Invocation


def _change(em: Emitter, tool: str, verb: str | None, destructive: bool, target: str | None = None, **facts: object) -> None:
    em.emit("system.change", target, {"tool": tool, "verb": verb, "destructive": destructive, **facts})
    set_verb(em, verb, "destructive" if destructive else "change", [verb] if verb else [])
    if destructive:
        em.spawn["destructive"] = True


def _read(em: Emitter, verb: str = "status") -> None:
    set_verb(em, verb, "read", [verb])


_SERVICE_DESTRUCTIVE = frozenset({"stop", "disable", "mask", "kill", "reboot", "poweroff", "halt", "isolate", "rescue", "emergency", "reset-failed", "clean", "kexec", "suspend", "hibernate"})
_SERVICE_READ = frozenset({"status", "show", "cat", "list-units", "list-unit-files", "list-timers", "list-sockets", "list-dependencies", "is-active", "is-enabled", "is-failed", "help", "--version", "get-default", "list-jobs", "list-machines", "show-environment", "log", "logs"})


_LAUNCHCTL_DESTRUCTIVE = frozenset({"remove", "unload", "bootout", "disable", "kill", "stop", "reboot", "unsetenv", "uncache"})
_LAUNCHCTL_CHANGE = frozenset({"load", "bootstrap", "enable", "start", "setenv", "submit", "kickstart", "config", "attach", "asuser", "bsexec"})


@register("launchctl")
def _launchctl(inv: Invocation, em: Emitter) -> None:
    ops = [w.text for w in inv.args if not w.text.startswith("-")]
    action = ops[0].lower() if ops else "list"
    if action in _LAUNCHCTL_DESTRUCTIVE:
        _change(em, "launchctl", action, True, " ".join(ops[1:3]) or None)
    elif action in _LAUNCHCTL_CHANGE:
        _change(em, "launchctl", action, False, " ".join(ops[1:3]) or None)
    else:
        _read(em, action)


@register("systemctl", "service", "rc-service", "sv")
def _services(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    parsed = parse_args(inv.args, OptionSpec.make(short_values="tpHMsn", long_values=["type", "property", "host", "machine", "signal", "lines", "output", "state", "root"]))
    ops = [w.text for w in parsed.operands]
    if not ops:
        _read(em, "list")
        return
    if name == "service" and len(ops) >= 2:
        unit, action = ops[0], ops[1].lower()
    else:
        action, unit = ops[0].lower(), " ".join(ops[1:3]) or None
    if action in _SERVICE_READ or action in ("list", "print", "print-disabled", "blame", "procinfo", "dumpstate", "examine"):
        _read(em, action)
        return
    destructive = action in _SERVICE_DESTRUCTIVE or action in ("remove", "unload", "bootout", "disable", "kill")
    _change(em, name, action, destructive, unit)


@register("shutdown", "reboot", "halt", "poweroff", "init", "telinit")
def _power(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    if any(w.text in ("--help", "-h", "--version") for w in inv.args):
        _read(em, "help")
        return
    if name in ("init", "telinit") and not any(w.text in ("0", "6", "1", "S", "s") for w in inv.args):
        _read(em, "help")
        return
    if name == "shutdown" and any(w.text == "-c" for w in inv.args):
        _change(em, name, "cancel", False)
        return
    _change(em, name, name, True)


@register("mkfs", "mke2fs", "mkswap", "mkdosfs", "mkntfs", "newfs", "newfs_apfs", "wipefs", "sgdisk", "gdisk", "sfdisk", "fdisk", "cfdisk", "parted", "blkdiscard", "badblocks", "zpool", "zfs", "lvremove", "vgremove", "pvremove", "cryptsetup", "hdparm")
def _disks(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    words = [w.text for w in inv.args]
    if any(t in ("-l", "--list", "-L", "--help", "-h", "--version", "-V", "print", "list", "status", "get") for t in words) and name not in ("mkfs", "mke2fs", "wipefs", "blkdiscard"):
        _read(em, "list")
        return
    if name in ("zpool", "zfs") and words and words[0] not in ("destroy", "remove", "rollback", "labelclear", "clear", "offline", "detach"):
        _change(em, name, words[0], False)
        return
    devices = [w for w in inv.args if w.text.startswith("/dev/")]
    for d in devices:
        em.path("filesystem.write", d, device=True, overwrite=True)
    _change(em, name, "format" if name.startswith(("mk", "newfs")) else "erase", True, devices[0].text if devices else None, disk=True)


@register("diskutil")
def _diskutil(inv: Invocation, em: Emitter) -> None:
    ops = [w.text for w in inv.args if not w.text.startswith("-")]
    low = [o.lower() for o in ops]
    if not low or low[0].startswith(("list", "info", "activity", "verify", "help")) or (low[0] in ("apfs", "cs", "ar") and len(low) > 1 and low[1].startswith(("list", "info"))):
        _read(em, low[0] if low else "list")
        return
    words = low[:2]
    destructive = any(re.match(r"(erase|zero|secureerase|reformat|partition|delete|remove|split|merge|resize|unmountdisk|eject)", w) for w in words)
    verb = next((w for w in words if w not in ("apfs", "cs", "ar", "coresorage")), words[0])
    _change(em, "diskutil", verb, destructive, ops[-1] if ops else None, disk=True)


@register("tmutil")
def _tmutil(inv: Invocation, em: Emitter) -> None:
    ops = [w.text.lower() for w in inv.args if not w.text.startswith("-")]
    action = ops[0] if ops else "status"
    if action in ("disable", "delete", "deletelocalsnapshots", "thinlocal", "thinlocalsnapshots", "removedestination", "disablelocal", "deleteinprogress"):
        _change(em, "tmutil", action, True)
    elif action in ("enable", "enablelocal", "startbackup", "stopbackup", "setdestination", "addexclusion", "removeexclusion", "restore", "inheritbackup", "associatedisk", "localsnapshot", "setquota"):
        _change(em, "tmutil", action, False)
    else:
        _read(em, action)


#: per tool: (words/options that only read, words/options that destroy); anything else changes.
#: An empty string in the second tuple means every use of the tool is destructive.
_SETTINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "csrutil": (("status", "report", "authenticated-root status"), ("disable", "clear")),
    "spctl": (("--assess", "-a", "--status", "--disable-status", "--list", "-l", "status"), ("--master-disable", "--global-disable", "--disable", "kext-consent disable")),
    "fdesetup": (("status", "list", "isactive", "haspersonalrecoverykey", "hasinstitutionalrecoverykey", "usertype", "supportsauthrestart", "showdeferralinfo", "version", "help"), ("disable", "remove", "removerecovery")),
    "nvram": (("-p", "-x", "-h", "--help"), ("-c", "-d")),
    "systemsetup": (("-get", "-help", "-printcommands", "-version"), ()),
    "scutil": (("--get", "--dns", "--proxy", "--nwi", "-r", "-w", "--help", "-h"), ()),
    "pmset": (("-g", "--help"), ()),
    "networksetup": (("-get", "-list", "-show", "-is", "-print", "-version", "-help", "-detect"), ("-remove", "-delete", "-destroy")),
    "sysctl": (("-a", "-n", "-e", "-N", "-x"), ()),
    "kextload": ((), ()),
    "kextunload": ((), ("",)),
    "kmutil": (("showloaded", "find", "inspect", "print-diagnostics", "log", "dumpstate"), ("unload", "clear-staging")),
    "bless": (("--info", "--getboot", "--verbose-noop"), ()),
    "dscl": (("-read", "-readall", "-list", "-search", "-diff", "read", "readall", "list", "search", "diff", "-readpl", "-readpli", "readpl"), ("-delete", "delete", "-deletepl", "deletepl")),
    "dseditgroup": (("-o read", "checkmember"), ("delete",)),
    "sysadminctl": (("-guestaccount status", "-screenlock status", "-filevault status", "-afploginaccess status"), ("-deleteuser",)),
    "profiles": (("help", "version", "validate", "list", "show", "status", "-l", "-p", "-P", "-L", "-C", "-e"), ("remove", "-r", "-R", "-D")),
    "softwareupdate": (("-l", "--list", "--history", "--list-full-installers", "--help", "-h", "--dump-state"), ()),
    "xattr": (("-l", "-p", "-x"), ("-c", "-d")),
    "chattr": ((), ()),
    "hostnamectl": (("status",), ()),
    "timedatectl": (("status", "show", "list-timezones", "timesync-status", "show-timesync"), ()),
    "localectl": (("status", "list-locales", "list-keymaps", "list-x11-keymap-models"), ()),
    "update-alternatives": (("--display", "--query", "--list", "--get-selections"), ("--remove", "--remove-all")),
    "modprobe": (("-n", "--dry-run", "-c", "--showconfig", "-D", "--show-depends"), ("-r", "--remove")),
    "rmmod": ((), ("",)),
    "insmod": ((), ()),
    "setenforce": ((), ("0", "permissive")),
    "sestatus": (("",), ()),
    "auditctl": (("-l", "-s"), ("-D", "-e 0")),
    "grubby": (("--info", "--default-kernel", "--default-index", "--default-title"), ("--remove-kernel",)),
    "efibootmgr": (("-v",), ("-B", "--delete-bootnum")),
}


def _setting_match(words: list[str], entries: tuple[str, ...], prefix: bool) -> bool:
    """An entry equals one of the first words (or, with `prefix`, starts it: `-get` ~ `-getdate`)."""
    joined = " ".join(words)
    for e in entries:
        if e == "":
            return True
        if " " in e:
            if e in joined:
                return True
        elif any(w == e or (prefix and e.startswith("-") and len(e) > 2 and w.startswith(e)) for w in words[:3]):
            return True
    return False


@register(*_SETTINGS)
def _settings(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    words = [w.text for w in inv.args]
    if name == "dscl":
        words = [w for w in words if w not in ("-plist", "-raw", "-url", "-q")]
        words = words[1:] if words and not words[0].startswith("-") or words[:1] == ["."] else words
    reads, destroys = _SETTINGS[name]
    low = [w.lower() for w in words]
    if not words and name not in ("kextunload", "rmmod", "setenforce"):
        _read(em, "status")
        return
    if name == "xattr":
        cluster = "".join(w[1:] for w in words if w.startswith("-") and not w.startswith("--"))
        if "c" in cluster or "d" in cluster:
            _change(em, name, "remove", False, words[-1] if words else None)
        elif "w" in cluster:
            _change(em, name, "write", False, words[-1] if words else None)
        else:
            _read(em, "list")
        return
    lreads, ldestroys = tuple(r.lower() for r in reads), tuple(d.lower() for d in destroys)
    if _setting_match(low, ldestroys, prefix=False):
        _change(em, name, (low[0].lstrip("-") if low else name), True, " ".join(words[:3]) or None)
        return
    if _setting_match(low, lreads, prefix=True) or (name == "sysctl" and not any("=" in w or w == "-w" for w in words)) or (name == "nvram" and not any("=" in w for w in words) and not _setting_match(low, ldestroys, prefix=True)):
        _read(em, low[0].lstrip("-") if low else "status")
        return
    if _setting_match(low, ldestroys, prefix=True):
        _change(em, name, (low[0].lstrip("-") if low else name), True, " ".join(words[:3]) or None)
        return
    _change(em, name, low[0].lstrip("-") if low else name, False, " ".join(words[:3]) or None)


@register("defaults")
def _defaults(inv: Invocation, em: Emitter) -> None:
    args = [w.text for w in inv.args]
    if args[:1] in (["-host"], ["-currentHost"]):
        args = args[2:] if args[0] == "-host" else args[1:]
    ops = [a for a in args if not a.startswith("-") or a in ("-g", "-globalDomain")]
    low = [o.lower() for o in ops]
    if not low or low[0] in ("read", "read-type", "domains", "find", "help", "export"):
        _read(em, low[0] if low else "read")
        return
    domain = ops[1] if len(ops) > 1 else None
    _change(em, "defaults", low[0], low[0] in ("delete", "remove"), domain, domain=domain)


@register("crontab")
def _crontab(inv: Invocation, em: Emitter) -> None:
    words = [w.text for w in inv.args]
    if "-l" in words:
        _read(em, "list")
    elif "-r" in words:
        _change(em, "crontab", "remove", True)
    else:
        files = [w for w in inv.args if not w.text.startswith("-")]
        for f in files:
            em.path("filesystem.read", f)
        _change(em, "crontab", "edit" if "-e" in words else "install", False)


@register("iptables", "ip6tables", "nft", "ufw", "pfctl", "firewall-cmd", "iptables-restore")
def _firewall(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    words = [w.text for w in inv.args]
    low = [w.lower() for w in words]
    if any(w in ("-l", "--list", "-s", "--list-rules", "-L", "-S", "status", "list", "--state", "--list-all", "-n") for w in words) and not any(w in ("-F", "--flush", "-X", "-D", "-d", "disable", "reset", "flush") for w in words):
        _read(em, "list")
        return
    destructive = any(w in ("-F", "--flush", "-X", "--delete-chain", "-D", "--delete", "-Z", "disable", "reset", "flush", "delete", "-d", "-f") for w in words) or "policy" in low and "accept" in low
    _change(em, name, "flush" if destructive else "configure", destructive, " ".join(words[:4]) or None)


@register("useradd", "userdel", "usermod", "adduser", "deluser", "groupadd", "groupdel", "groupmod", "passwd", "chpasswd", "chsh", "visudo", "gpasswd", "vipw")
def _users(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    ops = [w.text for w in inv.args if not w.text.startswith("-")]
    destructive = name in ("userdel", "deluser", "groupdel") or (name == "passwd" and any(w.text in ("-d", "--delete", "-l", "--lock") for w in inv.args))
    _change(em, name, name.replace("user", "").replace("group", "") or name, destructive, ops[-1] if ops else None, account=True)


@register("kill", "pkill", "killall", "killall5", "xkill", "skill", "slay")
def _kill(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    words = [w.text for w in inv.args]
    if any(w in ("-l", "-L", "--list", "--help", "-V") for w in words):
        _read(em, "list")
        return
    targets = [w for w in words if not w.startswith("-") or w.lstrip("-").isdigit() and w.startswith("-1") and len(w) == 2]
    everything = name == "killall5" or any(t in ("-1", "1") for t in targets) or (name in ("pkill", "killall") and any(t in ("-u", "--user") for t in words))
    em.emit("process.signal", " ".join(targets)[:100] or None, {"all_processes": everything, "signal": next((w.lstrip("-") for w in words if w.startswith("-") and w not in ("-1",)), "TERM")})
    set_verb(em, "kill", "destructive" if everything else "change", [])
    if everything:
        em.spawn["destructive"] = True


# --------------------------------------------------------------------------- macOS privacy and automation

_TELL = re.compile(r"""(?:tell\s+application|Application\s*\()\s*(?:id\s+)?["']([^"']{1,100})["']""", re.IGNORECASE)
_SENSITIVE_APPS = frozenset({"messages", "mail", "contacts", "calendar", "reminders", "notes", "photos", "keychain access", "system events", "finder", "terminal", "iterm", "iterm2", "safari", "google chrome", "system settings", "system preferences", "facetime", "outlook", "microsoft outlook", "slack", "1password"})


@register("osascript")
def _osascript(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, OptionSpec.make(short_values="elis"))
    scripts = [inv.args[i + 1].text for i, w in enumerate(inv.args[:-1]) if w.text == "-e"]
    language = (parsed.value("l") or "AppleScript").lower()
    if not scripts:
        for w in parsed.operands[:1]:
            em.path("filesystem.read", w, script=True)
    text = "\n".join(scripts)
    apps = [a for a in _TELL.findall(text)]
    low = text.lower()
    facts = {
        "tool": "osascript",
        "language": "javascript" if language.startswith("javascript") or "Application(" in text else "applescript",
        "apps": apps[:8],
        "sensitive_app": any(a.lower() in _SENSITIVE_APPS for a in apps),
        "sends_message": bool(re.search(r"\bsend\b|outgoing message", low)),
        "keystrokes": "keystroke" in low or "key code" in low,
        "runs_shell": "do shell script" in low or "doShellScript" in text,
        "script_file": not scripts,
    }
    m = re.search(r"""do shell script\s+"((?:[^"\\]|\\.){0,2000})\"""", text, re.IGNORECASE)
    if m:
        em.shell(m.group(1).replace('\\"', '"'), via="osascript do shell script")
    elif facts["runs_shell"]:
        em.opaque("osascript runs a computed shell command")
    em.emit("automation.run", apps[0] if apps else None, facts)
    set_verb(em, "automate", "change", [])


@register("shortcuts", "automator")
def _shortcuts(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    ops = [w.text for w in inv.args if not w.text.startswith("-")]
    if name == "shortcuts" and (not ops or ops[0] in ("list", "view", "help")):
        _read(em, ops[0] if ops else "list")
        return
    target = ops[1] if name == "shortcuts" and len(ops) > 1 else (ops[0] if ops else None)
    em.emit("automation.run", target, {"tool": name, "apps": [], "sensitive_app": False, "workflow": target})
    set_verb(em, "run", "change", [])


@register("open", "xdg-open", "gio")
def _open(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, OptionSpec.make(short_values="abe", long_values=["args", "env", "stdin", "stdout", "stderr"]))
    app = parsed.value("a") or parsed.value("b")
    if app:
        em.emit("automation.run", app, {"tool": "open", "apps": [app], "sensitive_app": app.lower() in _SENSITIVE_APPS})
        set_verb(em, "open", "change", [])
        return
    for w in parsed.operands:
        if "://" in w.text:
            em.url(w.text, method="GET", browser=True)
        else:
            em.path("filesystem.read", w, opened=True)
    _read(em, "open")


@register("security")
def _security(inv: Invocation, em: Emitter) -> None:
    ops = [w.text for w in inv.args if not w.text.startswith("-")]
    verb = ops[0].lower() if ops else ""
    if verb in ("find-generic-password", "find-internet-password", "find-certificate", "find-identity", "find-key", "dump-keychain", "export", "dump-trust-settings", "show-keychain-info") and verb.startswith(("find-", "dump-keychain", "export")) and verb != "find-certificate" and verb != "find-identity":
        reveals = "-w" in [w.text for w in inv.args] or "-g" in [w.text for w in inv.args] or verb in ("dump-keychain", "export")
        em.emit("secrets.read", " ".join(ops[:2]), {"store": "keychain", "verb": verb, "reveals_value": reveals})
        set_verb(em, "read", "read", [verb])
        em.spawn["reads_secret"] = True
        return
    v, cls = classify_word(verb)
    if cls == "destructive":
        em.emit("secrets.write", " ".join(ops[:2]), {"store": "keychain", "verb": verb, "destructive": True})
        set_verb(em, v, "destructive", [verb])
    elif verb.startswith(("add-", "set-", "import", "create-", "unlock-", "default-keychain", "authorizationdb")):
        em.emit("secrets.write", " ".join(ops[:2]), {"store": "keychain", "verb": verb, "destructive": False})
        set_verb(em, verb, "change", [verb])
    else:
        _read(em, verb or "help")


@register("mdfind", "mdls", "spotlight")
def _mdfind(inv: Invocation, em: Emitter) -> None:
    parsed = parse_args(inv.args, OptionSpec.make(short_values="sn", long_values=[]))
    scope = next((inv.args[i + 1].text for i, w in enumerate(inv.args[:-1]) if w.text == "-onlyin"), None)
    if inv.program.lower() == "mdls":
        for w in parsed.operands:
            em.path("filesystem.read", w, metadata_only=True)
        _read(em, "read")
        return
    em.path("filesystem.read", scope or "~", search=True, recursive=True, personal=scope is None)
    _read(em, "search")


@register("pbpaste", "pbcopy", "xclip", "xsel", "wl-paste", "wl-copy")
def _clipboard(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    reads = name in ("pbpaste", "wl-paste") or (name in ("xclip", "xsel") and any(w.text in ("-o", "--output") for w in inv.args))
    em.emit("clipboard.read" if reads else "clipboard.write", None, {"tool": name})
    _read(em, "paste" if reads else "copy")


@register("mount", "umount")
def _mount(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    if name == "mount" and (not inv.args or all(w.text in ("-l", "-v", "--show-labels") for w in inv.args)):
        _read(em, "list")
        return
    forced = name == "umount" and any(w.text in ("-f", "-l", "-a", "--force", "--lazy", "--all") for w in inv.args)
    _change(em, name, name, forced, " ".join(w.text for w in inv.args if not w.text.startswith("-"))[:200] or None)


@register("nginx", "haproxy", "apachectl", "httpd", "caddy", "traefik")
def _servers(inv: Invocation, em: Emitter) -> None:
    """`nginx -s stop|quit` stops a server; `-t`, `-v`, `-V` only check or print."""
    name = inv.program.lower()
    words = [w.text for w in inv.args]
    for i, w in enumerate(words):
        if w == "-s" and i + 1 < len(words):
            signal = words[i + 1].lower()
            if signal in ("stop", "quit"):
                _change(em, name, signal, True)
            else:
                set_verb(em, signal, "change", [signal])
            return
        if name == "haproxy" and w in ("-sf", "-st"):
            _change(em, name, "restart", w == "-st")
            return
        if name == "apachectl" and w.lower() in ("stop", "graceful-stop"):
            _change(em, name, "stop", True)
            return
    if name in ("caddy", "traefik") and words and words[0] in ("stop",):
        _change(em, name, "stop", True)
        return
    _read(em, "check" if any(w in ("-t", "-T", "-c", "-v", "-V", "-vv", "version", "validate", "configtest") for w in words) else "run")


@register("ssh-add", "ssh-keygen", "ssh-keyscan", "ssh-copy-id")
def _ssh_keys(inv: Invocation, em: Emitter) -> None:
    name = inv.program.lower()
    words = [w.text for w in inv.args]
    cluster = "".join(w[1:] for w in words if w.startswith("-") and not w.startswith("--"))
    if "--help" in words or "--version" in words:
        _read(em, "help")
        return
    if name == "ssh-keyscan" or (any(c in cluster for c in "lLFyBhVQ") and not any(c in cluster for c in "RdD")):
        for i, w in enumerate(words[:-1]):
            if w == "-f":
                em.path("filesystem.read", words[i + 1])
        _read(em, "list")
        return
    if name == "ssh-add":
        if "-D" in words or "-d" in words:
            _change(em, name, "remove", True, None, keys=True)
            return
        for w in inv.args:
            if not w.text.startswith("-"):
                em.path("filesystem.read", w)
        _change(em, name, "add", False, None, keys=True)
        return
    if name == "ssh-copy-id":
        targets = [w for w in words if not w.startswith("-")]
        if targets:
            em.connect(targets[-1], 22, protocol="ssh", upload=True)
        _change(em, name, "install", False, targets[-1] if targets else None, keys=True)
        return
    if "-R" in words:
        f = next((words[i + 1] for i, w in enumerate(words[:-1]) if w == "-f"), "~/.ssh/known_hosts")
        em.path("filesystem.write", f, removes_entries=True)
        _change(em, name, "remove", True, f, keys=True)
        return
    out = next((words[i + 1] for i, w in enumerate(words[:-1]) if w == "-f"), None)
    if out:
        em.path("filesystem.write", out, key_material=True)
    _change(em, name, "generate", False, out, keys=True)


@register("nsupdate")
def _nsupdate(inv: Invocation, em: Emitter) -> None:
    from bastion.analysis.programs.shells import stdin_script

    files = [w for w in inv.args if not w.text.startswith("-")]
    for f in files:
        em.path("filesystem.read", f, script=True)
    text, producer, known = stdin_script(em)
    destructive = bool(known and text and re.search(r"(?im)^\s*(?:update\s+)?(?:delete|del)\b", text))
    _change(em, "nsupdate", "delete" if destructive else "update", destructive or not known and not files, None, dns=True)
