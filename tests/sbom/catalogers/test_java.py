"""The Java archive cataloger: jars, wars, ears, Jenkins plugins, nesting and zip bombs."""

from __future__ import annotations

import glob
import os
import time
import zipfile
from pathlib import Path

import pytest

from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.catalogers.java import (
    JavaArchiveCataloger,
    JavaLimits,
    parse_archive_filename,
    parse_manifest,
    parse_pom_properties,
)
from sealyard.sbom.model import Location
from tests.sbom.catalogers.binary_fixtures import (
    declare_size,
    jar,
    manifest,
    maven_jar,
    pom_properties,
)


def catalog(*records: FileRecord, limits: JavaLimits | None = None) -> CatalogResult:
    return JavaArchiveCataloger(limits).catalog(ImageFiles(files=records))


def record(data: bytes | None, path: str = "app/lib/thing.jar", layer: int = 1) -> FileRecord:
    return FileRecord(path=path, layer=layer, data=data, size=len(data or b""))


def found(result: CatalogResult) -> set[tuple[str, str, str]]:
    """(location, purl, version) of every package."""
    return {(p.locations[0].path, p.purl, p.version) for p in result.packages}


# --- single archives -----------------------------------------------------------------------


def test_wants_java_archives_only() -> None:
    c = JavaArchiveCataloger()
    for path in (
        "app/a.jar",
        "opt/x/B.JAR",
        "srv/app.war",
        "srv/app.ear",
        "var/jenkins/p.jpi",
        "var/jenkins/p.hpi",
    ):
        assert c.wants(path), path
    for path in ("app/a.jar.sha1", "app/a.zip", "usr/bin/java", "app/jar"):
        assert not c.wants(path), path


def test_maven_jar_is_one_package() -> None:
    data = maven_jar(
        "org.apache.commons",
        "commons-lang3",
        "3.12.0",
        manifest_attrs={
            "Implementation-Title": "Apache Commons Lang",
            "Implementation-Version": "3.12.0",
            "Bundle-SymbolicName": "org.apache.commons.lang3",
            "Bundle-License": "Apache License, Version 2.0",
        },
    )
    result = catalog(record(data, "app/lib/commons-lang3-3.12.0.jar", 4))
    assert result.warnings == []
    assert len(result.packages) == 1  # the manifest describes the same jar: no second package
    p = result.packages[0]
    assert p.name == "commons-lang3"
    assert p.version == "3.12.0"
    assert p.type == "maven"
    assert p.purl == "pkg:maven/org.apache.commons/commons-lang3@3.12.0"
    assert p.found_by == "java-archive"
    assert p.locations == (Location("app/lib/commons-lang3-3.12.0.jar", 4),)
    assert p.layer == 4
    assert p.licenses == ("Apache-2.0",)
    assert p.metadata["groupId"] == "org.apache.commons"
    assert p.metadata["groupIdSource"] == "pom.properties"
    assert p.metadata["pomProperties"] == (
        "META-INF/maven/org.apache.commons/commons-lang3/pom.properties"
    )
    assert p.metadata["manifest"]["Bundle-SymbolicName"] == "org.apache.commons.lang3"


def test_renamed_jar_is_still_identified_by_its_pom() -> None:
    data = maven_jar("com.example", "service", "2.0.1")
    result = catalog(record(data, "app/app.jar"))
    assert found(result) == {("app/app.jar", "pkg:maven/com.example/service@2.0.1", "2.0.1")}


def test_jar_without_pom_uses_the_manifest() -> None:
    data = jar(
        {
            "META-INF/MANIFEST.MF": manifest(
                {
                    "Implementation-Title": "Example Library",
                    "Implementation-Version": "4.5.6",
                    "Implementation-Vendor-Id": "com.example",
                    "Bundle-License": 'Apache-2.0;link="https://www.apache.org/licenses/LICENSE-2.0",'
                    ' "EPL-2.0"',
                }
            ),
            "com/example/A.class": b"\xca\xfe\xba\xbe",
        }
    )
    result = catalog(record(data, "app/lib/example-lib.jar"))
    assert result.warnings == []
    [p] = result.packages
    assert (p.name, p.version, p.purl) == (
        "example-lib",
        "4.5.6",
        "pkg:maven/com.example/example-lib@4.5.6",
    )
    assert p.licenses == ("Apache-2.0", "EPL-2.0")
    assert p.metadata["groupIdSource"] == "manifest"
    assert p.metadata["identifiedBy"] == "manifest"


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("Apache-2.0", ("Apache-2.0",)),
        ('"Apache License, Version 2.0";link="https://www.apache.org/licenses/"', ("Apache-2.0",)),
        (
            "https://opensource.org/licenses/MIT, EPL-2.0",
            ("https://opensource.org/licenses/MIT", "EPL-2.0"),
        ),
        ("The Unknown License, v3", ("The Unknown License, v3",)),  # kept as declared
    ],
)
def test_bundle_license(declared: str, expected: tuple[str, ...]) -> None:
    data = maven_jar("g", "a", "1", manifest_attrs={"Bundle-License": declared})
    [p] = catalog(record(data, "app/a-1.jar")).packages
    assert p.licenses == expected


def test_osgi_bundle_version_and_symbolic_name() -> None:
    data = jar(
        {
            "META-INF/MANIFEST.MF": manifest(
                {
                    "Bundle-SymbolicName": "org.eclipse.jetty.util;singleton:=true",
                    "Bundle-Version": "9.4.51.v20230217",
                }
            )
        }
    )
    [p] = catalog(record(data, "opt/x/2.jar")).packages  # a file name that names nothing
    assert (p.name, p.version) == ("org.eclipse.jetty.util", "9.4.51.v20230217")
    assert p.metadata["groupIdSource"] == "guessed"


def test_jar_identified_by_its_file_name_only() -> None:
    data = jar({"org/x/A.class": b"\xca\xfe\xba\xbe"})
    [p] = catalog(record(data, "app/lib/guava-31.1-jre.jar")).packages
    assert (p.name, p.version, p.purl) == ("guava", "31.1-jre", "pkg:maven/guava/guava@31.1-jre")
    assert p.metadata["identifiedBy"] == "filename"


def test_unidentifiable_archive_is_a_warning() -> None:
    result = catalog(record(jar({"x.txt": "x"}), "srv/ROOT.war"))
    assert result.packages == []
    assert [(w.kind, w.path) for w in result.warnings] == [("unidentified-archive", "srv/ROOT.war")]


def test_jenkins_plugin() -> None:
    data = jar(
        {
            "META-INF/MANIFEST.MF": manifest(
                {
                    "Short-Name": "git",
                    "Plugin-Version": "5.2.1",
                    "Group-Id": "org.jenkins-ci.plugins",
                    "Implementation-Version": "5.2.1",
                }
            ),
            "WEB-INF/lib/git.jar": maven_jar("org.jenkins-ci.plugins", "git", "5.2.1"),
        }
    )
    result = catalog(record(data, "var/jenkins_home/plugins/git.jpi"))
    assert found(result) == {
        ("var/jenkins_home/plugins/git.jpi", "pkg:maven/org.jenkins-ci.plugins/git@5.2.1", "5.2.1"),
        (
            "var/jenkins_home/plugins/git.jpi:WEB-INF/lib/git.jar",
            "pkg:maven/org.jenkins-ci.plugins/git@5.2.1",
            "5.2.1",
        ),
    }


# --- many packages in one archive ----------------------------------------------------------


def test_fat_jar_reports_every_pom_once() -> None:
    data = jar(
        {
            "META-INF/MANIFEST.MF": manifest({"Main-Class": "com.example.Main"}),
            "META-INF/maven/com.example/app/pom.properties": pom_properties(
                "com.example", "app", "1.0.0"
            ),
            "META-INF/maven/com.google.code.gson/gson/pom.properties": pom_properties(
                "com.google.code.gson", "gson", "2.10.1"
            ),
            "META-INF/maven/org.slf4j/slf4j-api/pom.properties": pom_properties(
                "org.slf4j", "slf4j-api", "2.0.9"
            ),
            # The same pom twice (another prefix) is still one package.
            "shaded/META-INF/maven/org.slf4j/slf4j-api/pom.properties": pom_properties(
                "org.slf4j", "slf4j-api", "2.0.9"
            ),
        }
    )
    result = catalog(record(data, "app/app-1.0.0-all.jar"))
    assert result.warnings == []
    assert found(result) == {
        ("app/app-1.0.0-all.jar", "pkg:maven/com.example/app@1.0.0", "1.0.0"),
        ("app/app-1.0.0-all.jar", "pkg:maven/com.google.code.gson/gson@2.10.1", "2.10.1"),
        ("app/app-1.0.0-all.jar", "pkg:maven/org.slf4j/slf4j-api@2.0.9", "2.0.9"),
    }
    shaded = {p.name: p.metadata.get("shadedIn") for p in result.packages}
    assert shaded == {
        "app": None,
        "gson": "app/app-1.0.0-all.jar",
        "slf4j-api": "app/app-1.0.0-all.jar",
    }


def test_app_jar_shading_one_library_is_not_mistaken_for_it() -> None:
    data = jar(
        {
            "META-INF/MANIFEST.MF": manifest({"Implementation-Version": "1.0"}),
            "META-INF/maven/com.google.code.gson/gson/pom.properties": pom_properties(
                "com.google.code.gson", "gson", "2.10.1"
            ),
        }
    )
    result = catalog(record(data, "app/myapp-1.0.jar"))
    assert {(p.name, p.version) for p in result.packages} == {
        ("myapp", "1.0"),
        ("gson", "2.10.1"),
    }


def test_nested_ear_war_jar_locations() -> None:
    lib = maven_jar("org.slf4j", "slf4j-api", "2.0.9")
    war = jar(
        {
            "WEB-INF/web.xml": "<web-app/>",
            "META-INF/maven/com.example/web/pom.properties": pom_properties(
                "com.example", "web", "3.1"
            ),
            "WEB-INF/lib/slf4j-api-2.0.9.jar": lib,
            "WEB-INF/lib/plain-util-0.9.jar": jar({"a/B.class": b"\xca\xfe"}),
        }
    )
    ear = jar(
        {
            "web.war": war,
            "lib/commons-io-2.15.1.jar": maven_jar("commons-io", "commons-io", "2.15.1"),
        }
    )
    result = catalog(record(ear, "srv/app.ear", 7))
    assert found(result) - {("srv/app.ear", "pkg:maven/app/app", "")} == {
        ("srv/app.ear:web.war", "pkg:maven/com.example/web@3.1", "3.1"),
        (
            "srv/app.ear:web.war:WEB-INF/lib/slf4j-api-2.0.9.jar",
            "pkg:maven/org.slf4j/slf4j-api@2.0.9",
            "2.0.9",
        ),
        (
            "srv/app.ear:web.war:WEB-INF/lib/plain-util-0.9.jar",
            "pkg:maven/plain-util/plain-util@0.9",
            "0.9",
        ),
        (
            "srv/app.ear:lib/commons-io-2.15.1.jar",
            "pkg:maven/commons-io/commons-io@2.15.1",
            "2.15.1",
        ),
    }
    assert {p.layer for p in result.packages} == {7}
    assert [(w.kind, w.path) for w in result.warnings] == [("unidentified-archive", "srv/app.ear")]


JACKSON_POM = "META-INF/maven/com.fasterxml.jackson.core/jackson-core/pom.properties"


def test_spring_boot_jar() -> None:
    boot = jar(
        {
            "META-INF/MANIFEST.MF": manifest(
                {
                    "Main-Class": "org.springframework.boot.loader.JarLauncher",
                    "Implementation-Title": "demo",
                    "Implementation-Version": "0.0.1-SNAPSHOT",
                }
            ),
            "META-INF/maven/com.example/demo/pom.properties": pom_properties(
                "com.example", "demo", "0.0.1-SNAPSHOT"
            ),
            "BOOT-INF/lib/spring-core-6.1.1.jar": maven_jar(
                "org.springframework", "spring-core", "6.1.1"
            ),
            # Stored (not deflated), as Spring Boot writes nested jars.
            "BOOT-INF/lib/jackson-core-2.15.3.jar": jar(
                {
                    JACKSON_POM: pom_properties(
                        "com.fasterxml.jackson.core", "jackson-core", "2.15.3"
                    )
                },
                compression=zipfile.ZIP_STORED,
            ),
        }
    )
    result = catalog(record(boot, "app/demo.jar"))
    assert result.warnings == []
    assert found(result) == {
        ("app/demo.jar", "pkg:maven/com.example/demo@0.0.1-SNAPSHOT", "0.0.1-SNAPSHOT"),
        (
            "app/demo.jar:BOOT-INF/lib/spring-core-6.1.1.jar",
            "pkg:maven/org.springframework/spring-core@6.1.1",
            "6.1.1",
        ),
        (
            "app/demo.jar:BOOT-INF/lib/jackson-core-2.15.3.jar",
            "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.15.3",
            "2.15.3",
        ),
    }


# --- parsers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("lib/commons-io-2.11.0.jar", ("commons-io", "2.11.0")),
        ("guava-31.1-jre.jar", ("guava", "31.1-jre")),
        ("spring-boot-starter-web-3.1.0.jar", ("spring-boot-starter-web", "3.1.0")),
        ("netty-all-4.1.90.Final.jar", ("netty-all", "4.1.90.Final")),
        ("jsr305-0.1~+svn49.jar", ("jsr305", "0.1~+svn49")),
        ("jetpack-build235-rc5.jar", ("jetpack", "build235-rc5")),
        ("ironman-r4-2009.jar", ("ironman", "r4-2009")),
        ("spring-r2dbc-6.0.0.jar", ("spring-r2dbc", "6.0.0")),
        ("my-http2-server-5.jar", ("my-http2-server", "5")),
        ("org.apache.commons.io_2.11.0.jar", ("org.apache.commons.io", "2.11.0")),
        ("app.jar", ("app", "")),
        ("outer.war:WEB-INF/lib/x-1.0.jar", ("x", "1.0")),
    ],
)
def test_parse_archive_filename(path: str, expected: tuple[str, str]) -> None:
    assert parse_archive_filename(path) == expected


def test_parse_manifest() -> None:
    text = manifest(
        {
            "Implementation-Title": "t",
            "Export-Package": 'org.example.a;version="1.0",'
            + ",".join(f"org.example.p{i}" for i in range(30)),
        }
    )
    text += "Name: org/example/\r\nImplementation-Title: per-entry\r\n"
    attrs = parse_manifest("\ufeff" + text)
    assert attrs["Manifest-Version"] == "1.0"
    assert attrs["Implementation-Title"] == "t"  # per-entry sections are ignored
    assert attrs["Export-Package"].endswith("org.example.p29")
    assert "Name" not in attrs


def test_parse_pom_properties() -> None:
    props = parse_pom_properties(
        "#Generated\n! also a comment\ngroupId = org.x\nartifactId:y\nversion=1.0\\:beta\n\njunk\n"
    )
    assert props == {"groupId": "org.x", "artifactId": "y", "version": "1.0:beta"}


# --- hostile archives ----------------------------------------------------------------------


def test_not_a_zip_and_truncated_zip_are_warnings() -> None:
    good = maven_jar("a", "b", "1")
    result = catalog(
        record(b"definitely not a zip", "app/a.jar"),
        record(good[: len(good) // 2], "app/b.jar"),
        record(maven_jar("c", "d", "2"), "app/d.jar"),
    )
    assert found(result) == {("app/d.jar", "pkg:maven/c/d@2", "2")}
    assert sorted((w.kind, w.path) for w in result.warnings) == [
        ("unreadable", "app/a.jar"),
        ("unreadable", "app/b.jar"),
    ]


def test_declared_huge_member_is_refused_without_reading() -> None:
    inner = maven_jar("org.x", "inner", "1.0")
    outer = jar({"lib/inner-1.0.jar": inner, "lib/ok-2.0.jar": maven_jar("org.x", "ok", "2.0")})
    bomb = declare_size(outer, "lib/inner-1.0.jar", 0xFFFFFFF0)
    result = catalog(record(bomb, "app/outer-1.0.jar"))
    assert ("app/outer-1.0.jar:lib/ok-2.0.jar", "pkg:maven/org.x/ok@2.0", "2.0") in found(result)
    assert [(w.kind, w.path) for w in result.warnings] == [
        ("member-too-large", "app/outer-1.0.jar:lib/inner-1.0.jar")
    ]


def test_lying_small_declared_size_is_still_bounded() -> None:
    # The central directory claims 10 bytes; zipfile stops there and the CRC check fails.
    outer = jar({"lib/inner-1.0.jar": maven_jar("org.x", "inner", "1.0")})
    liar = declare_size(outer, "lib/inner-1.0.jar", 10)
    result = catalog(record(liar, "app/outer-1.0.jar"))
    assert [w.kind for w in result.warnings] == ["unreadable"]
    assert "inner" not in {p.name for p in result.packages}


def test_zip_bomb_hits_the_budget() -> None:
    zeros = bytes(8 * 1024 * 1024)
    bomb = jar(
        {f"lib/bomb{i}.jar": zeros for i in range(6)}
        | {"lib/z-1.0.jar": maven_jar("z", "z", "1.0")}
    )
    assert len(bomb) < 200_000
    limits = JavaLimits(
        max_total_uncompressed=20 * 1024 * 1024, max_nested_archive=10 * 1024 * 1024
    )
    start = time.monotonic()
    result = catalog(record(bomb, "app/bomb-1.0.jar"), limits=limits)
    assert time.monotonic() - start < 10
    kinds = [w.kind for w in result.warnings]
    assert "budget-exhausted" in kinds
    assert len(kinds) <= 4  # two unreadable "jars" of zeros, then the budget, then nothing


def test_nested_member_over_the_size_cap() -> None:
    big = jar({"data.bin": os.urandom(64 * 1024)}, compression=zipfile.ZIP_STORED)
    outer = jar({"lib/big-1.0.jar": big})
    limits = JavaLimits(max_nested_archive=32 * 1024)
    result = catalog(record(outer, "app/outer-1.0.jar"), limits=limits)
    assert ("member-too-large", "app/outer-1.0.jar:lib/big-1.0.jar") in {
        (w.kind, w.path) for w in result.warnings
    }


def test_nesting_beyond_the_depth_limit() -> None:
    data = maven_jar("org.x", "level6", "6")
    for level in range(5, -1, -1):
        data = jar(
            {
                f"lib/level{level + 1}-{level + 1}.jar": data,
                f"META-INF/maven/org.x/level{level}/pom.properties": pom_properties(
                    "org.x", f"level{level}", str(level)
                ),
            }
        )
    result = catalog(record(data, "app/level0-0.jar"), limits=JavaLimits(max_depth=4))
    names = {p.name for p in result.packages}
    assert names == {"level0", "level1", "level2", "level3", "level4"}
    assert [(w.kind, w.path) for w in result.warnings] == [
        (
            "nesting-too-deep",
            "app/level0-0.jar:lib/level1-1.jar:lib/level2-2.jar:lib/level3-3.jar:lib/level4-4.jar",
        )
    ]


def test_entry_count_limits() -> None:
    many = jar(
        {f"f{i}.txt": "" for i in range(50)}
        | {"META-INF/maven/a/b/pom.properties": pom_properties("a", "b", "1")}
    )
    result = catalog(record(many, "app/b-1.jar"), limits=JavaLimits(max_entries=20))
    assert result.packages == []
    assert [w.kind for w in result.warnings] == ["archive-too-large"]


def test_pom_properties_count_limit() -> None:
    entries = {
        f"META-INF/maven/g/a{i}/pom.properties": pom_properties("g", f"a{i}", "1")
        for i in range(10)
    }
    result = catalog(record(jar(entries), "app/x.jar"), limits=JavaLimits(max_pom_properties=3))
    assert len(result.packages) == 3  # x.jar has no version: not a package of its own
    assert [w.kind for w in result.warnings] == ["too-many-entries"]


def test_oversized_metadata_file_is_skipped() -> None:
    data = jar(
        {
            "META-INF/MANIFEST.MF": "Implementation-Version: 1\n" + "X-Pad: " + "x" * 5000 + "\n",
            "META-INF/maven/g/a/pom.properties": pom_properties("g", "a", "1"),
        }
    )
    result = catalog(record(data, "app/a.jar"), limits=JavaLimits(max_metadata_file=1000))
    assert found(result) == {("app/a.jar", "pkg:maven/g/a@1", "1")}
    assert [(w.kind, w.path) for w in result.warnings] == [
        ("member-too-large", "app/a.jar:META-INF/MANIFEST.MF")
    ]


def test_unsupported_compression_and_encryption_are_warnings() -> None:
    data = bytearray(jar({"lib/x-1.0.jar": maven_jar("g", "x", "1.0")}))
    at = data.find(b"PK\x01\x02")
    data[at + 10 : at + 12] = (99).to_bytes(2, "little")  # AES / unknown method
    result = catalog(record(bytes(data), "app/outer-1.0.jar"))
    assert [w.kind for w in result.warnings] == ["unreadable"]


def test_data_none_is_skipped() -> None:
    assert catalog(record(None)).packages == []


# --- a real jar ----------------------------------------------------------------------------


def _real_jar() -> Path:
    for pattern in ("/usr/share/java/commons-io-*.jar", "/usr/share/java/commons-cli-*.jar"):
        for path in sorted(glob.glob(pattern)):
            return Path(os.path.realpath(path))
    pytest.skip("no Debian java library jar installed (apt-get install libcommons-io-java)")


@pytest.mark.integration
def test_real_debian_jar_alone_and_nested_in_a_war() -> None:
    real = _real_jar()
    data = real.read_bytes()
    with zipfile.ZipFile(real) as zf:
        [pom_path] = [n for n in zf.namelist() if n.endswith("/pom.properties")]
        props = parse_pom_properties(zf.read(pom_path).decode())
    expected_purl = f"pkg:maven/{props['groupId']}/{props['artifactId']}@{props['version']}"

    alone = catalog(record(data, "usr/share/java/" + real.name))
    assert alone.warnings == []
    assert [p.purl for p in alone.packages] == [expected_purl]

    war = jar({"WEB-INF/lib/" + real.name: data, "WEB-INF/web.xml": "<web-app/>"})
    nested = catalog(record(war, "srv/webapps/shop-1.2.war"))
    assert found(nested) == {
        ("srv/webapps/shop-1.2.war", "pkg:maven/shop/shop@1.2", "1.2"),
        (f"srv/webapps/shop-1.2.war:WEB-INF/lib/{real.name}", expected_purl, props["version"]),
    }


@pytest.mark.parametrize(
    ("manifest_version", "file_version", "expected"),
    [
        ("5.13.0 (b0)", "5.13.0", "5.13.0"),  # JNA decorates its version
        ("3.17.0.v20210823-1805", "3.17.0", "3.17.0"),  # OSGi qualifier; Maven has 3.17.0
        ("2.4", "", "2.4"),  # Debian's unversioned file names: the manifest decides
        ("", "1.1", "1.1"),
        ("1.2", "1.1", "1.2"),  # a different plain version in the manifest is believed
        ("1.0 beta", "", "1.0"),
    ],
)
def test_version_of_archive_without_pom(
    manifest_version: str, file_version: str, expected: str
) -> None:
    from sealyard.sbom.catalogers.java import _choose_version

    assert _choose_version(manifest_version, file_version) == expected
