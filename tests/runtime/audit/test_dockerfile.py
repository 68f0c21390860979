"""``sealyard audit dockerfile``: the parser, and a failing and a passing Dockerfile per rule."""

from __future__ import annotations

import textwrap

import pytest

from sealyard.errors import UntrustedDataError, VerificationError
from sealyard.runtime.audit._dockerfile_syntax import expand, parse_dockerfile
from sealyard.runtime.audit.dockerfile import audit_dockerfile, secret_name, secret_value
from sealyard.runtime.audit.interface import AuditReport, Severity

DIGEST = "sha256:" + "4c" * 32
GOOD = f"""\
# syntax=docker/dockerfile:1.7
ARG PYTHON=3.12
FROM python:${{PYTHON}}-slim@{DIGEST} AS build
WORKDIR /src
COPY requirements.txt .
RUN pip install --no-cache-dir --require-hashes -r requirements.txt
RUN apt-get update \\
 && apt-get install -y --no-install-recommends libpq5=15.6-0+deb12u1 \\
 && rm -rf /var/lib/apt/lists/*
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d \\
    https://example.com/tool-1.2.tgz /opt/
COPY . .

FROM gcr.io/distroless/python3-debian12@{DIGEST}
COPY --from=build /src /app
ENV PYTHONUNBUFFERED=1 GPG_KEY=7169605F62C751356D054A26A821E680E5FA6305
USER 10001:10001
ENTRYPOINT ["python3", "/app/main.py"]
"""


def run(text: str, **kwargs: object) -> AuditReport:
    return audit_dockerfile(textwrap.dedent(text).encode(), "Dockerfile", **kwargs)  # type: ignore[arg-type]


def ids(report: AuditReport) -> list[str]:
    return [f.rule.id for f in report.findings]


def messages(report: AuditReport, rule: str) -> list[str]:
    return [f.message for f in report.findings if f.rule.id == rule]


def test_the_good_dockerfile_passes_and_says_signatures_were_not_checked() -> None:
    report = run(GOOD)
    assert report.findings == ()
    assert any("signatures were not checked" in n for n in report.notes)
    assert "DF-2" not in {r.id for r in report.rules}


# --- parser -----------------------------------------------------------------------------------


def test_continuations_comments_and_blank_lines_inside_them() -> None:
    parsed = parse_dockerfile(
        "FROM alpine:3.19\nRUN apk add \\\n# a comment inside\n\n    curl \\   \n    git\nUSER 1\n",
        "D",
    )
    from_ins, run_ins, _ = parsed.stages[0].instructions
    assert from_ins.keyword == "FROM"
    assert run_ins.keyword == "RUN"
    assert run_ins.args.split() == ["apk", "add", "curl", "git"]
    assert run_ins.line == 2
    assert parsed.stages[0].instructions[2].line == 7


def test_escape_directive_backtick_and_json_form() -> None:
    text = (
        "# escape=`\n"
        "FROM mcr.microsoft.com/windows/servercore:ltsc2022\n"
        "RUN powershell -Command `\n"
        "    Invoke-WebRequest C:\\tools\\a.zip\n"
        'CMD ["cmd", "/S", "/C", "echo hi"]\n'
    )
    parsed = parse_dockerfile(text, "D")
    assert parsed.escape == "`"
    _, run_ins, cmd = parsed.stages[0].instructions
    assert "C:\\tools\\a.zip" in run_ins.args
    assert cmd.json_args == ("cmd", "/S", "/C", "echo hi")


def test_directives_are_only_read_at_the_top() -> None:
    parsed = parse_dockerfile("# hello\n# escape=`\nFROM alpine\n", "D")
    assert parsed.escape == "\\"
    assert parsed.directives == {}


def test_heredocs() -> None:
    text = (
        "FROM alpine:3.19\n"
        "RUN <<-EOT bash\n"
        "\tset -e\n"
        "\techo $HOME\n"
        "\tEOT\n"
        'COPY <<"CONF" <<ENV /etc/\n'
        "x=$y\n"
        "CONF\n"
        "A=1\n"
        "ENV\n"
        "USER app\n"
    )
    parsed = parse_dockerfile(text, "D")
    _, run_ins, copy, user = parsed.stages[0].instructions
    [body] = run_ins.heredocs
    assert body.content == "set -e\necho $HOME\n"
    assert body.strip_tabs
    assert [(h.name, h.content, h.expand) for h in copy.heredocs] == [
        ("CONF", "x=$y\n", False),
        ("ENV", "A=1\n", True),
    ]
    assert user.line == 11


def test_arithmetic_is_not_a_heredoc() -> None:
    parsed = parse_dockerfile("FROM alpine\nRUN echo $((1<<2))\nUSER 1\n", "D")
    assert parsed.stages[0].instructions[1].heredocs == ()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("FROM alpine\nRUN <<EOF\necho hi\n", "never terminated"),
        ("RUN echo hi\nFROM alpine\n", "before the first FROM"),
        ("# just a comment\nARG X=1\n", "no FROM"),
        ("# escape=x\nFROM alpine\n", "invalid escape"),
        ("# escape=\\\n# escape=`\nFROM alpine\n", "repeated"),
        ("FROM\n", "FROM needs an image"),
        ("FROM alpine\n!!! nope\n", "not an instruction"),
    ],
)
def test_parse_errors(text: str, match: str) -> None:
    with pytest.raises(UntrustedDataError, match=match):
        audit_dockerfile(text.encode(), "Dockerfile")


def test_binary_and_non_utf8_files_are_rejected() -> None:
    with pytest.raises(UntrustedDataError, match="not UTF-8"):
        audit_dockerfile(b"FROM alpine\nLABEL a=\xff\n", "Dockerfile")
    with pytest.raises(UntrustedDataError, match="NUL"):
        audit_dockerfile(b"FROM alpine\x00\n", "Dockerfile")


def test_variable_expansion() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert expand("$A-${A}-${B:-x}-${EMPTY:-d}-${EMPTY-d}-${A:+y}-${B+z}", env) == (
        "1-1-x-d--y-",
        True,
    )
    assert expand("${MISSING}", env) == ("${MISSING}", False)


# --- DF-1 / DF-2 base images ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("ubuntu", "implicit `latest`"),
        ("ubuntu:latest", "tag latest"),
        ("registry.example:5000/team/app:1.2", "tag 1.2"),
        ("python:${PY}", "build argument"),
    ],
)
def test_df1_unpinned_bases(base: str, expected: str) -> None:
    report = run(f"FROM {base}\nUSER 1\n")
    assert any(expected in m for m in messages(report, "DF-1"))
    [hit] = [f for f in report.findings if f.rule.id == "DF-1"]
    assert hit.line == 1
    assert hit.field == "FROM"


def test_df1_passes_for_digests_stages_and_scratch() -> None:
    text = f"""\
    ARG BASE=alpine:3.19@{DIGEST}
    FROM ${{BASE}} AS build
    RUN true
    FROM build AS test
    FROM scratch
    COPY --from=build /bin/app /app
    USER 65532
    """
    assert "DF-1" not in ids(run(text))


def test_df2_uses_the_policy_checker_once_per_image() -> None:
    calls: list[str] = []

    def verify(ref: str) -> tuple[bool, str]:
        calls.append(ref)
        return ("trusted" in ref, "no signature from a trusted signer")

    text = f"""\
    FROM registry.example/trusted/base@{DIGEST} AS a
    FROM registry.example/random/base@{DIGEST} AS b
    FROM registry.example/random/base@{DIGEST} AS c
    USER 1
    """
    report = run(text, verify_base=verify)
    assert calls == [
        f"registry.example/trusted/base@{DIGEST}",
        f"registry.example/random/base@{DIGEST}",
    ]
    hits = [f for f in report.findings if f.rule.id == "DF-2"]
    assert [f.container for f in hits] == ["stage 1 (b)", "stage 2 (c)"]
    assert "no signature from a trusted signer" in hits[0].message
    assert hits[0].severity is Severity.HIGH
    assert not any("not checked" in n for n in report.notes)
    assert "DF-2" in {r.id for r in report.rules}
    passing = run(f"FROM registry.example/trusted/base@{DIGEST}\nUSER 1\n", verify_base=verify)
    assert passing.findings == ()


def test_df2_checker_errors_fail_closed() -> None:
    def verify(ref: str) -> tuple[bool, str]:
        raise VerificationError("trust root expired")

    report = run(f"FROM alpine@{DIGEST}\nUSER 1\n", verify_base=verify)
    assert messages(report, "DF-2") == [
        f"base image alpine@{DIGEST} is not signed under policy: verification failed: "
        "trust root expired"
    ]


# --- DF-3 package pins ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run_line", "expected"),
    [
        (
            "apt-get update && apt-get install -y curl=7.88.1-10 git",
            "apt-get install without versions: git",
        ),
        (
            "DEBIAN_FRONTEND=noninteractive apt-get -y install --no-install-recommends "
            "ca-certificates",
            "ca-certificates",
        ),
        ("sudo apt install -o Dpkg::Options::=--force-confold nginx", "nginx"),
        (
            "apk add --no-cache --virtual .build-deps gcc musl-dev=1.2.4-r2",
            "apk add without versions: gcc",
        ),
        ("pip install flask requests==2.32.3", "pip install without == versions: flask"),
        ("python3 -m pip install --upgrade pip", "pip"),
        ("pip3 install 'django>=4.2'", "django>=4.2"),
        ("pip install -r requirements.txt", "without --require-hashes"),
        ("uv pip install --requirement=req.txt", "req.txt"),
        ("npm install", "npm ci"),
        ("sh -c 'pip install flask'", "flask"),
        ("npm install -g typescript@^5.4.0 left-pad", "typescript@^5.4.0, left-pad"),
    ],
)
def test_df3_unpinned_installs(run_line: str, expected: str) -> None:
    report = run(f"FROM alpine@{DIGEST}\nRUN {run_line}\nUSER 1\n")
    assert any(expected in m for m in messages(report, "DF-3")), messages(report, "DF-3")


@pytest.mark.parametrize(
    "run_line",
    [
        "apt-get update && apt-get install -y curl=7.88.1-10 ./local.deb",
        "apk add --no-cache curl=8.5.0-r0 'busybox~1.36'",
        "pip install --no-deps requests==2.32.3 ./dist/app-1.0-py3-none-any.whl",
        "pip install --require-hashes -r requirements.txt",
        "pip install -c constraints.txt flask",
        "pip install git+https://github.com/org/lib@0123456789abcdef0123456789abcdef01234567",
        "npm ci --omit=dev",
        "npm install -g typescript@5.4.5 @angular/cli@17.3.0",
        "apt-get update",
        "echo pip install flask",
    ],
)
def test_df3_pinned_installs_pass(run_line: str) -> None:
    assert "DF-3" not in ids(run(f"FROM alpine@{DIGEST}\nRUN {run_line}\nUSER 1\n"))


def test_df3_reads_exec_form_and_heredocs() -> None:
    text = f"""\
    FROM alpine@{DIGEST}
    RUN ["pip", "install", "flask"]
    RUN <<EOF
    set -e
    apk add curl
    EOF
    USER 1
    """
    found = messages(run(text), "DF-3")
    assert any("flask" in m for m in found)
    assert any("curl" in m for m in found)


# --- DF-4 ADD ---------------------------------------------------------------------------------


def test_df4_remote_add() -> None:
    report = run(
        f"FROM alpine@{DIGEST}\n"
        "ADD https://example.com/a.tgz /opt/\n"
        'ADD ["https://example.com/b.tgz", "/opt/"]\n'
        "ADD https://github.com/moby/buildkit.git#v0.13.2 /src\n"
        "ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d "
        "https://example.com/c.tgz /opt/\n"
        "ADD local.tgz /opt/\n"
        "USER 1\n"
    )
    assert [f.line for f in report.findings if f.rule.id == "DF-4"] == [2, 3, 4]


# --- DF-5 USER --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "severity"),
    [
        (f"FROM alpine@{DIGEST}\nRUN adduser -D app\n", "sets no USER", Severity.MEDIUM),
        (f"FROM alpine@{DIGEST}\nUSER app\nUSER root\n", "root (root)", Severity.MEDIUM),
        (f"FROM alpine@{DIGEST}\nUSER 0:0\n", "root (0:0)", Severity.MEDIUM),
        (f"FROM alpine@{DIGEST}\nARG UID\nUSER ${{UID}}\n", "build argument", Severity.INFO),
        (f"FROM alpine@{DIGEST}\nARG UID=0\nUSER $UID\n", "root (0)", Severity.MEDIUM),
        (  # only the final stage matters
            f"FROM alpine@{DIGEST} AS build\nUSER 1000\n"
            f"FROM alpine@{DIGEST}\nCOPY --from=build / /\n",
            "sets no USER",
            Severity.MEDIUM,
        ),
    ],
)
def test_df5_user_fails(text: str, expected: str, severity: Severity) -> None:
    report = run(text)
    hits = [f for f in report.findings if f.rule.id == "DF-5"]
    assert hits
    assert expected in hits[0].message
    assert hits[0].severity is severity


@pytest.mark.parametrize(
    "text",
    [
        f"FROM alpine@{DIGEST}\nUSER root\nRUN apk upgrade\nUSER 10001\n",
        f"FROM alpine@{DIGEST} AS base\nUSER app\nFROM base\nRUN true\n",  # inherited
        f"FROM alpine@{DIGEST}\nENV APP_UID=10001\nUSER ${{APP_UID}}:${{APP_UID}}\n",
        f"FROM alpine@{DIGEST}\nuser nobody\n",  # keywords are case-insensitive
    ],
)
def test_df5_user_passes(text: str) -> None:
    assert "DF-5" not in ids(run(text))


# --- DF-6 secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected", "severity"),
    [
        ("ENV DB_PASSWORD=hunter2", "sets a secret", Severity.HIGH),
        ("ENV API_KEY s3cr3t-value", "sets a secret", Severity.HIGH),
        ("ARG NPM_TOKEN", "recorded in the image history", Severity.MEDIUM),
        ("ARG GITHUB_TOKEN=${CI_TOKEN}", "looks like a secret", Severity.MEDIUM),
        ("ENV AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID}", "stored in the image", Severity.HIGH),
        ("ENV BOOTSTRAP=AKIAIOSFODNN7EXAMPLE", "an AWS access key id", Severity.HIGH),
        ("ARG DSN=postgres://app:pa55w0rd@db:5432/app", "credentials in a URL", Severity.HIGH),
        ("LABEL token=ghp_0123456789abcdefghijABCDEFGHIJ012345", "a GitHub token", Severity.HIGH),
        (
            "RUN echo '-----BEGIN OPENSSH PRIVATE KEY-----' > /root/.ssh/id",
            "a private key",
            Severity.HIGH,
        ),
    ],
)
def test_df6_secrets(line: str, expected: str, severity: Severity) -> None:
    report = run(f"FROM alpine@{DIGEST}\n{line}\nUSER 1\n")
    hits = [f for f in report.findings if f.rule.id == "DF-6"]
    assert hits
    assert expected in hits[0].message
    assert hits[0].severity is severity
    assert "hunter2" not in hits[0].message


@pytest.mark.parametrize(
    "line",
    [
        "ENV GPG_KEY=7169605F62C751356D054A26A821E680E5FA6305",
        "ENV DB_PASSWORD_FILE=/run/secrets/db_password",
        "ENV PUBLIC_KEY_URL=https://example.com/key.pub",
        "ARG TOKEN_ENDPOINT=https://auth.example/token",
        "ENV KEYCLOAK_VERSION=24.0.2 PASSENGER_VERSION=6.0",
        "RUN --mount=type=secret,id=npm,env=NPM_TOKEN npm ci",
        "ENV PWD=/srv",
    ],
)
def test_df6_harmless_names_and_values_pass(line: str) -> None:
    assert "DF-6" not in ids(run(f"FROM alpine@{DIGEST}\n{line}\nUSER 1\n"))


def test_secret_helpers() -> None:
    assert secret_name("AWS_ACCESS_KEY_ID")
    assert secret_name("stripe-secret")
    assert not secret_name("SSH_KEY_PATH")
    assert secret_value("xoxb-1234567890-abcdef") == "a Slack token"
    assert secret_value("plain text") is None


# --- DF-7 curl | sh ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "RUN curl -fsSL https://get.example.sh | sh",
        "RUN curl -sSL https://x.example/i.sh | sudo -E bash -s -- --yes",
        "RUN wget -qO- https://x.example/i.sh | tee /tmp/log | /bin/sh",
        'RUN sh -c "$(curl -fsSL https://x.example/install.sh)"',
        "RUN bash <(curl -s https://x.example/i.sh)",
        "RUN curl https://x.example/setup.py | python3 -",
        'RUN ["/bin/sh", "-c", "curl -s https://x.example/i.sh | sh"]',
        "RUN bash -c 'set -e; wget -q -O - https://x.example/i.sh | bash'",
    ],
)
def test_df7_curl_pipe_fails(line: str) -> None:
    report = run(f"FROM alpine@{DIGEST}\n{line}\nUSER 1\n")
    assert "DF-7" in ids(report)


@pytest.mark.parametrize(
    "line",
    [
        "RUN curl -fsSLo /tmp/i.sh https://x.example/i.sh "
        "&& echo 'abc  /tmp/i.sh' | sha256sum -c - && sh /tmp/i.sh",
        "RUN curl -fsSL https://x.example/data.json | jq .version",
        "RUN echo 'curl | sh is bad' > /README",
    ],
)
def test_df7_verified_downloads_pass(line: str) -> None:
    assert "DF-7" not in ids(run(f"FROM alpine@{DIGEST}\n{line}\nUSER 1\n"))
