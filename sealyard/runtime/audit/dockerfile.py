"""``sealyard audit dockerfile``: supply-chain and least-privilege checks of a Dockerfile.

* DF-1 base images pinned by digest (``FROM image@sha256:…``);
* DF-2 base images signed under policy — only when a checker is plugged in
  (``verify_base: Callable[[str], tuple[bool, str]]``, for the gates); otherwise the
  report says it was not checked;
* DF-3 package installs pinned (``apt-get install pkg=ver``, ``apk add pkg=ver``,
  ``pip install pkg==ver`` or ``-r`` with ``--require-hashes``, ``npm ci``/``pkg@ver``);
* DF-4 ``ADD`` of a remote URL only with ``--checksum``;
* DF-5 the final stage sets a ``USER`` that is not root (CIS 4.1);
* DF-6 no secrets in ``ENV``/``ARG`` (names like ``*PASSWORD*``, ``*TOKEN*``, ``*_KEY``;
  values that look like keys or tokens anywhere) (CIS 4.10);
* DF-7 no ``curl … | sh`` (downloaded code run unverified).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

from sealyard.errors import SealyardError, UsageError
from sealyard.runtime.audit._dockerfile_syntax import (
    Dockerfile,
    Instruction,
    Stage,
    expand,
    parse_dockerfile,
    split_assignments,
)
from sealyard.runtime.audit._parse import DEFAULT_LIMITS, ParseLimits, decode
from sealyard.runtime.audit.interface import (
    AuditReport,
    Finding,
    Resource,
    Rule,
    Severity,
    sorted_findings,
)

__all__ = ["DOCKERFILE_RULES", "BaseImageVerifier", "audit_dockerfile", "audit_dockerfile_path"]

#: Checks that a base image reference is signed under policy: ``(ok, reason)``.
BaseImageVerifier = Callable[[str], tuple[bool, str]]

_FORMATS = frozenset({"dockerfile"})
_REF = "https://docs.docker.com/reference/dockerfile/"


def _rule(rule_id: str, title: str, severity: Severity, why: str, fix: str) -> Rule:
    return Rule(rule_id, "dockerfile", title, severity, why, fix, _FORMATS, _REF)


BASE_DIGEST = _rule(
    "DF-1",
    "Base images are pinned by digest",
    Severity.MEDIUM,
    "A tag is a mutable pointer: the image behind `python:3.12` (or `latest`) changes "
    "without the Dockerfile changing, so builds are not reproducible and a compromised "
    "registry or tag push changes what you ship.",
    "Pin each external base image by digest: `FROM python:3.12@sha256:<digest>` (keep the "
    "tag for readability; update the digest deliberately, e.g. with Renovate).",
)
BASE_SIGNED = _rule(
    "DF-2",
    "Base images are signed under policy",
    Severity.HIGH,
    "A digest says which image, not whether anyone you trust built it; the signature "
    "policy says that.",
    "Use base images whose signatures satisfy the policy, or sign them after review.",
)
PACKAGES_PINNED = _rule(
    "DF-3",
    "Package installs are pinned",
    Severity.MEDIUM,
    "Unpinned installs resolve to whatever the repository serves at build time: builds "
    "drift, and a malicious new release (or a typosquat) gets in unnoticed.",
    "Pin versions: `apt-get install pkg=1.2-3`, `apk add pkg=1.2-r0`, `pip install "
    "pkg==1.2` or `pip install --require-hashes -r requirements.txt`, `npm ci` (with a "
    "lockfile) or `npm install pkg@1.2.3`.",
)
ADD_REMOTE = _rule(
    "DF-4",
    "ADD of remote URLs is checksummed",
    Severity.HIGH,
    "`ADD https://…` downloads whatever the server returns at build time, unverified.",
    "Use `ADD --checksum=sha256:<digest> <url> <dest>`, or download in a RUN step and "
    "verify the checksum (or signature) before use.",
)
USER_SET = _rule(
    "DF-5",
    "The final stage sets a non-root USER",
    Severity.MEDIUM,
    "Without a USER the container runs as the base image's user, root for most images; "
    "root in the container is root on the host unless user namespaces remap it (CIS 4.1).",
    "Create an unprivileged user and switch to it as the last USER of the final stage: "
    "`RUN useradd -r -u 10001 app` then `USER 10001`.",
)
SECRETS = _rule(
    "DF-6",
    "No secrets in ENV, ARG or the image",
    Severity.HIGH,
    "ENV values are stored in the image config and ARG values in its history: anyone who "
    "can pull the image can read them (CIS 4.10).",
    "Pass secrets at build time with `RUN --mount=type=secret,id=…` and at run time "
    "through the orchestrator's secrets; rotate any secret that was committed.",
)
CURL_PIPE = _rule(
    "DF-7",
    "No curl | sh",
    Severity.HIGH,
    "Piping a download into a shell runs code nobody reviewed or verified; a compromised "
    "server or a man in the middle owns the build.",
    "Download to a file, verify its checksum or signature, then run it; better, install a "
    "pinned package.",
)
DOCKERFILE_RULES: tuple[Rule, ...] = (
    BASE_DIGEST,
    BASE_SIGNED,
    PACKAGES_PINNED,
    ADD_REMOTE,
    USER_SET,
    SECRETS,
    CURL_PIPE,
)


class _Context:
    def __init__(self, source: str, parsed: Dockerfile) -> None:
        self.resource = Resource(source, "dockerfile", "Dockerfile", Path(source).name or source)
        self.parsed = parsed
        self.findings: list[Finding] = []
        self.notes: list[str] = []

    def add(
        self,
        rule: Rule,
        message: str,
        ins: Instruction | None,
        stage: Stage | None,
        severity: Severity | None = None,
        line: int | None = None,
    ) -> None:
        self.findings.append(
            Finding(
                rule=rule,
                resource=self.resource,
                message=message,
                severity=severity or rule.severity,
                container=stage.label if stage else None,
                field=ins.keyword if ins else ("FROM" if stage else None),
                line=line if line is not None else (ins.line if ins else None),
            )
        )


# --- base images --------------------------------------------------------------------------

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _global_args(parsed: Dockerfile) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in parsed.global_args:
        for name, value in split_assignments(ins.args):
            if value is not None:
                env[name] = value
    return env


def _external_bases(ctx: _Context) -> Iterator[tuple[Stage, str | None]]:
    """Each stage whose base is an external image, with the reference (``None``: unresolved)."""
    env = _global_args(ctx.parsed)
    for stage in ctx.parsed.stages:
        ref, complete = expand(stage.base, env)
        if not complete:
            yield stage, None
            continue
        if ref.lower() == "scratch":
            continue
        earlier = ctx.parsed.stage_named(ref)
        if earlier is not None and earlier.index < stage.index:
            continue
        yield stage, ref


def _check_bases(ctx: _Context, verify: BaseImageVerifier | None) -> None:
    verified: dict[str, tuple[bool, str]] = {}
    for stage, ref in _external_bases(ctx):
        if ref is None:
            ctx.add(
                BASE_DIGEST,
                f"base image {stage.base} uses a build argument without a default; it cannot "
                "be checked",
                None,
                stage,
                line=stage.line,
            )
            continue
        if not _DIGEST.search(ref):
            name = ref.rsplit("/", 1)[-1]
            how = "the implicit `latest` tag" if ":" not in name else f"tag {name.split(':')[-1]}"
            ctx.add(
                BASE_DIGEST,
                f"base image {ref} is referenced by {how}, not by digest",
                None,
                stage,
                line=stage.line,
            )
        if verify is None:
            continue
        if ref not in verified:
            try:
                verified[ref] = verify(ref)
            except SealyardError as exc:
                verified[ref] = (False, f"verification failed: {exc}")
        ok, reason = verified[ref]
        if not ok:
            ctx.add(
                BASE_SIGNED,
                f"base image {ref} is not signed under policy: {reason}",
                None,
                stage,
                line=stage.line,
            )
    if verify is None:
        ctx.notes.append(
            f"{ctx.resource.source}: base image signatures were not checked "
            "(DF-2 needs a policy checker; none is configured)"
        )


# --- shell commands -----------------------------------------------------------------------

_SEPARATORS = frozenset({";", "&&", "||", "&", "(", ")", "\n"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ash", "ksh", "busybox"})
_INTERPRETERS = _SHELLS | frozenset({"python", "python3", "perl", "ruby", "node"})
_WRAPPERS = frozenset({"sudo", "env", "command", "exec", "nice", "time", "nohup", "xargs"})


def _scripts(ins: Instruction) -> list[str]:
    """The shell text(s) a RUN executes: its shell form, its exec form, its heredocs."""
    if ins.heredocs:
        return [h.content for h in ins.heredocs] + [ins.args]
    if ins.json_args is not None:
        return [shlex.join(ins.json_args)]
    return [ins.args]


def _tokens(script: str) -> list[str]:
    text = re.sub(r"\\\n", " ", script).replace("\n", " \n ")
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: fall back to words
        return text.split()


def _pipelines(script: str) -> list[list[list[str]]]:
    """The script as pipelines of simple commands (argv lists, wrappers removed)."""
    out: list[list[list[str]]] = []
    pipeline: list[list[str]] = []
    argv: list[str] = []
    skip_next = False
    for tok in [*_tokens(script), ";"]:
        if skip_next:
            skip_next = False
            continue
        if tok in _SEPARATORS or tok == "|":
            if argv:
                pipeline.append(_unwrap(argv))
            argv = []
            if tok != "|" and pipeline:
                out.append(pipeline)
                pipeline = []
            continue
        if tok and set(tok) <= set("<>&"):
            skip_next = True  # a redirection and its target
            if argv and argv[-1].isdigit():
                argv.pop()
            continue
        argv.append(tok)
    return out


def _all_pipelines(script: str, depth: int = 0) -> list[list[list[str]]]:
    """:func:`_pipelines` of ``script`` and of the scripts it passes to ``sh -c``."""
    found = _pipelines(script)
    if depth >= 3:
        return found
    nested: list[list[list[str]]] = []
    for pipeline in found:
        for argv in pipeline:
            if argv and argv[0] in _SHELLS and "-c" in argv[1:-1]:
                nested += _all_pipelines(argv[argv.index("-c") + 1], depth + 1)
    return found + nested


def _unwrap(argv: list[str]) -> list[str]:
    """Drop leading ``VAR=value`` assignments and wrappers such as ``sudo`` or ``env``."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
            i += 1
        elif word in _WRAPPERS:
            i += 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 1
        else:
            break
    rest = argv[i:]
    if rest:
        rest[0] = rest[0].rsplit("/", 1)[-1]  # /usr/bin/pip → pip
    return rest


def _positional(args: list[str], with_value: frozenset[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a.startswith("-"):
            if a in with_value:
                skip = True
            continue
        out.append(a)
    return out


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_APT_OPTS = frozenset({"-o", "-t", "-c", "--option", "--target-release", "--config-file"})
_APK_OPTS = _words(
    "-t --virtual -X --repository -p --root --keys-dir --arch --cache-dir --repositories-file"
)
_PIP_OPTS = _words(
    "-r --requirement -c --constraint -e --editable -i --index-url "
    "--extra-index-url -f --find-links -t --target --prefix --root --src "
    "--upgrade-strategy --progress-bar --cache-dir --log --proxy --retries "
    "--timeout --exists-action --trusted-host --cert --client-cert --global-option "
    "--install-option --config-settings -C --platform --python-version "
    "--implementation --abi --only-binary --no-binary --report --python"
)
_NPM_OPTS = frozenset({"--registry", "--prefix", "-C", "--cache", "--omit", "--include"})
_VARIABLE_ONLY = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$")


def _local(pkg: str) -> bool:
    return pkg.startswith((".", "/", "~")) or pkg.endswith((".deb", ".apk", ".whl", ".tgz"))


def _apt(argv: list[str]) -> list[str]:
    words = _positional(argv[1:], _APT_OPTS)
    if not words or words[0] not in ("install", "reinstall"):
        return []
    return [p for p in words[1:] if "=" not in p and not _local(p) and not _VARIABLE_ONLY.match(p)]


def _apk(argv: list[str]) -> list[str]:
    words = _positional(argv[1:], _APK_OPTS)
    if not words or words[0] != "add":
        return []
    return [
        p
        for p in words[1:]
        if not re.search(r"[=~<>]", p) and not _local(p) and not _VARIABLE_ONLY.match(p)
    ]


def _pip_args(argv: list[str]) -> list[str] | None:
    """The arguments after ``install`` of a pip invocation, else ``None``."""
    name = argv[0]
    if re.fullmatch(r"pip[0-9.]*", name) and argv[1:2] == ["install"]:
        return argv[2:]
    if re.fullmatch(r"python[0-9.]*", name) and argv[1:4] == ["-m", "pip", "install"]:
        return argv[4:]
    if name == "uv" and argv[1:3] == ["pip", "install"]:
        return argv[3:]
    return None


def _pip_pinned(pkg: str) -> bool:
    if _local(pkg) or _VARIABLE_ONLY.match(pkg):
        return True
    if "://" in pkg:
        return bool(re.search(r"@[0-9a-f]{40}\b", pkg)) or "#sha256=" in pkg
    return bool(re.search(r"={2,3}\s*[^=*\s]+$", pkg)) and "*" not in pkg


def _pip(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(unpinned packages, requirement files installed without hashes)``."""
    args = _pip_args(argv)
    if args is None:
        return [], []
    expanded: list[str] = []
    for a in args:
        if a.startswith("--") and "=" in a:
            key, _, value = a.partition("=")
            expanded += [key, value]
        else:
            expanded.append(a)
    hashes = "--require-hashes" in expanded
    constrained = any(a in ("-c", "--constraint") for a in expanded)
    files = [expanded[i + 1] for i, a in enumerate(expanded[:-1]) if a in ("-r", "--requirement")]
    packages = _positional(expanded, _PIP_OPTS)
    unpinned = [] if constrained else [p for p in packages if not _pip_pinned(p)]
    return unpinned, [] if hashes else files


def _npm(argv: list[str]) -> tuple[bool, list[str]]:
    """``(bare install without a lockfile guarantee, unpinned packages)``."""
    if argv[0] != "npm" or len(argv) < 2 or argv[1] not in ("install", "i", "add", "isntall"):
        return False, []
    packages = _positional(argv[2:], _NPM_OPTS)
    if not packages:
        return True, []
    unpinned = []
    for p in packages:
        if _local(p) or "://" in p or p.startswith(("git+", "github:")):
            continue
        version = (p[1:] if p.startswith("@") else p).partition("@")[2]
        if not version or version in ("latest", "next") or version[0] in "^~<>*=":
            unpinned.append(p)
    return False, unpinned


def _check_packages(ctx: _Context, stage: Stage, ins: Instruction) -> None:
    for script in _scripts(ins):
        for pipeline in _all_pipelines(script):
            for argv in pipeline:
                if not argv:
                    continue
                tool = argv[0]
                if tool in ("apt-get", "apt", "aptitude"):
                    unpinned = _apt(argv)
                    if unpinned:
                        ctx.add(
                            PACKAGES_PINNED,
                            f"{tool} install without versions: {', '.join(unpinned)}",
                            ins,
                            stage,
                            severity=Severity.LOW,
                        )
                elif tool == "apk":
                    unpinned = _apk(argv)
                    if unpinned:
                        ctx.add(
                            PACKAGES_PINNED,
                            f"apk add without versions: {', '.join(unpinned)}",
                            ins,
                            stage,
                            severity=Severity.LOW,
                        )
                elif tool == "npm":
                    bare, unpinned = _npm(argv)
                    if bare:
                        ctx.add(
                            PACKAGES_PINNED,
                            "`npm install` resolves versions anew; use `npm ci` with a lockfile",
                            ins,
                            stage,
                        )
                    if unpinned:
                        ctx.add(
                            PACKAGES_PINNED,
                            f"npm install without exact versions: {', '.join(unpinned)}",
                            ins,
                            stage,
                        )
                else:
                    unpinned, files = _pip(argv)
                    if unpinned:
                        ctx.add(
                            PACKAGES_PINNED,
                            f"pip install without == versions: {', '.join(unpinned)}",
                            ins,
                            stage,
                        )
                    if files:
                        ctx.add(
                            PACKAGES_PINNED,
                            f"pip install -r {', '.join(files)} without --require-hashes",
                            ins,
                            stage,
                        )


_FETCHERS = frozenset({"curl", "wget"})
_SUBSTITUTION = re.compile(
    r"\b(?:ba|z|da|k)?sh\s+-c\s+[\"']?(?:\$\(|`)\s*(?:curl|wget)\b"
    r"|\b(?:(?:ba|z|da|k)?sh|source|\.)\s+<\(\s*(?:curl|wget)\b"
)


def _check_curl_pipe(ctx: _Context, stage: Stage, ins: Instruction) -> None:
    for script in _scripts(ins):
        hit = _SUBSTITUTION.search(script)
        if hit is not None:
            ctx.add(CURL_PIPE, f"runs downloaded code: {hit.group(0).strip()}…", ins, stage)
            continue
        for pipeline in _all_pipelines(script):
            fetched = False
            for argv in pipeline:
                if not argv:
                    continue
                if argv[0] in _FETCHERS:
                    fetched = True
                elif fetched and argv[0] in _INTERPRETERS:
                    ctx.add(
                        CURL_PIPE,
                        f"pipes a download into {argv[0]}",
                        ins,
                        stage,
                    )
                    fetched = False


# --- ADD ------------------------------------------------------------------------------------

_REMOTE = re.compile(r"^(?:https?|ftp)://|^git@|\.git(?:#.*)?$", re.IGNORECASE)


def _check_add(ctx: _Context, stage: Stage, ins: Instruction) -> None:
    if ins.flag("checksum"):
        return
    if ins.json_args is not None:
        sources = list(ins.json_args[:-1])
    else:
        words = ins.args.split()
        sources = words[:-1]
    remote = [s for s in sources if _REMOTE.search(s)]
    if remote:
        ctx.add(ADD_REMOTE, f"ADD of {', '.join(remote)} without --checksum", ins, stage)


# --- USER -----------------------------------------------------------------------------------


def _stage_env(ctx: _Context, stage: Stage, upto: Instruction | None) -> dict[str, str]:
    """ARG defaults and ENV values visible at ``upto`` in ``stage`` (parents first)."""
    globals_ = _global_args(ctx.parsed)
    env: dict[str, str] = {}
    parent = ctx.parsed.stage_named(expand(stage.base, globals_)[0])
    if parent is not None and parent.index < stage.index:
        env |= _stage_env(ctx, parent, None)
    for ins in stage.instructions:
        if upto is not None and ins is upto:
            break
        if ins.keyword == "ARG":
            for name, value in split_assignments(ins.args):
                default = value if value is not None else globals_.get(name)
                if default is not None:
                    env[name] = expand(default, env)[0]
        elif ins.keyword == "ENV":
            for name, value in split_assignments(ins.args):
                if value is not None:
                    env[name] = expand(value, env)[0]
    return env


def _last_user(ctx: _Context, stage: Stage) -> tuple[Stage, Instruction] | None:
    """The USER in effect at the end of ``stage``, following ``FROM <earlier stage>``."""
    for ins in reversed(stage.instructions):
        if ins.keyword == "USER":
            return stage, ins
    parent = ctx.parsed.stage_named(expand(stage.base, _global_args(ctx.parsed))[0])
    if parent is not None and parent.index < stage.index:
        return _last_user(ctx, parent)
    return None


def _check_user(ctx: _Context) -> None:
    final = ctx.parsed.stages[-1]
    found = _last_user(ctx, final)
    if found is None:
        ctx.add(
            USER_SET,
            "the final stage sets no USER: the container runs as the base image's user "
            "(root unless the image sets another)",
            None,
            final,
            line=final.line,
        )
        return
    stage, ins = found
    value, complete = expand(ins.args.strip(), _stage_env(ctx, stage, ins))
    if not complete:
        ctx.add(
            USER_SET,
            f"USER {ins.args.strip()} depends on a build argument without a default; "
            "check that it is not root",
            ins,
            stage,
            severity=Severity.INFO,
        )
        return
    user = value.split(":", 1)[0].strip()
    if user in ("root", "0", ""):
        ctx.add(USER_SET, f"the last USER is root ({value})", ins, stage)


# --- secrets --------------------------------------------------------------------------------

_SECRET_WORDS = _words(
    "PASSWORD PASSWD PASS SECRET SECRETS TOKEN APIKEY CREDENTIAL CREDENTIALS KEY AUTH PRIVATE"
)
_HARMLESS_WORDS = _words(
    "PUBLIC PUB FILE PATH DIR URL URI HOST PORT NAME TYPE FORMAT LENGTH SIZE GPG "
    "FINGERPRINT ALGORITHM ALGO ENDPOINT SERVER ENABLED MODE KEYRING KEYSERVER"
)
_ALWAYS_SECRET = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})
_SECRET_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a Stripe secret key", re.compile(r"\b[sr]k_live_[0-9A-Za-z]{20,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("an npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")),
    (
        "a JSON Web Token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
    (
        "credentials in a URL",
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@${}]+:[^/\s@${}]+@[^\s/]+", re.IGNORECASE),
    ),
)


def secret_name(name: str) -> bool:
    """``name`` looks like it holds a secret (``DB_PASSWORD``, ``NPM_TOKEN``, ``API_KEY``)."""
    upper = name.upper()
    if upper in _ALWAYS_SECRET:
        return True
    words = [w for w in re.split(r"[^A-Z0-9]+", upper) if w]
    if any(w in _HARMLESS_WORDS for w in words):
        return False
    return any(w in _SECRET_WORDS for w in words) or upper.endswith(("PASSWORD", "TOKEN"))


def secret_value(value: str) -> str | None:
    """What kind of secret ``value`` contains, if it looks like one."""
    for what, pattern in _SECRET_VALUES:
        if pattern.search(value):
            return what
    return None


def _check_secrets(ctx: _Context, stage: Stage | None, ins: Instruction) -> None:
    if ins.keyword in ("ENV", "ARG"):
        for name, value in split_assignments(ins.args):
            kind = secret_value(value or "")
            if kind is not None:
                ctx.add(SECRETS, f"{ins.keyword} {name} holds {kind}", ins, stage)
                continue
            if not secret_name(name):
                continue
            if ins.keyword == "ARG" and not value:
                ctx.add(
                    SECRETS,
                    f"build argument {name} looks like a secret: its value is recorded in "
                    "the image history when a RUN uses it",
                    ins,
                    stage,
                    severity=Severity.MEDIUM,
                )
            elif value and not _VARIABLE_ONLY.match(value):
                ctx.add(SECRETS, f"{ins.keyword} {name} sets a secret in the image", ins, stage)
            else:
                ctx.add(
                    SECRETS,
                    f"{ins.keyword} {name} looks like a secret and is stored in the image",
                    ins,
                    stage,
                    severity=Severity.MEDIUM if ins.keyword == "ARG" else Severity.HIGH,
                )
    elif ins.keyword in ("RUN", "LABEL"):
        for script in _scripts(ins):
            kind = secret_value(script)
            if kind is not None:
                ctx.add(SECRETS, f"{ins.keyword} contains {kind}", ins, stage)
                break


# --- entry points ---------------------------------------------------------------------------


def audit_dockerfile(
    data: bytes,
    source: str,
    *,
    verify_base: BaseImageVerifier | None = None,
    limits: ParseLimits = DEFAULT_LIMITS,
) -> AuditReport:
    """Audit the Dockerfile in ``data``.

    Args:
        data: the Dockerfile's bytes.
        source: how findings name it.
        verify_base: checks that a base image is signed under policy; ``None`` skips DF-2
            and says so in the report's notes. A ``SealyardError`` it raises counts as a
            failed verification.
        limits: size limit (``max_bytes``).

    Raises:
        UntrustedDataError: not UTF-8, too large, or not a parseable Dockerfile.
    """
    text = decode(data, source, limits)
    parsed = parse_dockerfile(text, source)
    ctx = _Context(source, parsed)
    _check_bases(ctx, verify_base)
    for ins in parsed.global_args:
        _check_secrets(ctx, None, ins)
    for stage in parsed.stages:
        for ins in stage.instructions:
            _check_secrets(ctx, stage, ins)
            if ins.keyword == "RUN":
                _check_packages(ctx, stage, ins)
                _check_curl_pipe(ctx, stage, ins)
            elif ins.keyword == "ADD":
                _check_add(ctx, stage, ins)
    _check_user(ctx)
    rules = (
        DOCKERFILE_RULES
        if verify_base is not None
        else tuple(r for r in DOCKERFILE_RULES if r is not BASE_SIGNED)
    )
    return AuditReport(
        findings=sorted_findings(ctx.findings),
        resources=(ctx.resource,),
        rules=rules,
        notes=tuple(ctx.notes),
        standards=("dockerfile",),
    )


def audit_dockerfile_path(
    path: Path,
    *,
    verify_base: BaseImageVerifier | None = None,
    limits: ParseLimits = DEFAULT_LIMITS,
) -> AuditReport:
    """:func:`audit_dockerfile` of the file at ``path``.

    Raises:
        UsageError: the file cannot be read.
        UntrustedDataError: see :func:`audit_dockerfile`.
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return audit_dockerfile(data, str(path), verify_base=verify_base, limits=limits)
