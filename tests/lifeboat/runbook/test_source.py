"""Guards on untrusted bytes: size, encoding, syntax, emptiness, aliases, nesting."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from lifeboat.runbook import LoadedRunbook

Write = Callable[..., Path]
Errors = Callable[[Path], list[str]]
VALID_TAIL = "title: t\nowner: o\nsteps:\n  - {id: a, check: tcp.open, with: {host: h, port: 1}}\n"


def test_yaml_syntax_error_points_at_the_problem(write: Write, errors_of: Errors) -> None:
    path = write("id: x\nversion: 1.0.0\ntitle: [unclosed\nowner: o\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:4:")
    assert "error: YAML syntax:" in error


def test_duplicate_yaml_key(write: Write, errors_of: Errors) -> None:
    path = write("id: x\nid: y\nversion: 1.0.0\n" + VALID_TAIL)
    (error,) = errors_of(path)
    assert error == f"{path}:2:1: error: duplicate key 'id' (first on line 1)"


def test_empty_file(write: Write, errors_of: Errors) -> None:
    path = write("# only a comment\n")
    assert errors_of(path) == [
        f"{path}:1:1: error: file is empty: a runbook is a mapping with id, version, title, "
        "owner and steps"
    ]


def test_not_a_mapping(write: Write, errors_of: Errors) -> None:
    path = write("- id: x\n- id: y\n")
    assert errors_of(path) == [
        f"{path}:1:1: error: a runbook must be a mapping of keys, not a list"
    ]


def test_scalar_document(write: Write, errors_of: Errors) -> None:
    path = write("just words\n")
    assert errors_of(path) == [f"{path}:1:1: error: a runbook must be a mapping of keys, not a str"]


def test_file_over_one_mebibyte(write: Write, errors_of: Errors) -> None:
    path = write("id: x\n" + "# padding\n" * 110_000)
    size = path.stat().st_size
    assert errors_of(path) == [
        f"{path}:1:1: error: file is {size} bytes; a runbook may be at most 1 MiB"
    ]


def test_not_utf8_names_line_and_byte(write: Write, errors_of: Errors) -> None:
    path = write(b"id: x\nversion: 1.0.0\ntitle: caf\xe9\n")
    assert errors_of(path) == [f"{path}:3:11: error: file is not UTF-8 (byte 0xe9)"]


def test_control_character(write: Write, errors_of: Errors) -> None:
    path = write(b"id: x\x07\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:1:6: error: YAML syntax: ")


def test_missing_file(tmp_path: Path, errors_of: Errors) -> None:
    path = tmp_path / "nope.yaml"
    assert errors_of(path) == [f"{path}:1:1: error: cannot read file: No such file or directory"]


def test_alias_bomb_is_refused_quickly(write: Write, errors_of: Errors) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    path = write("\n".join(lines) + "\n")
    # CPU time of this thread, not wall time: a busy machine does not slow it. Refusing takes
    # about 0.05 s of CPU; expanding its 9**10 values would take hours.
    started = time.thread_time()
    (error,) = errors_of(path)
    cpu = time.thread_time() - started
    assert cpu < 5, f"an alias bomb must be refused, not expanded: {cpu:.1f} s of CPU"
    assert "error: document expands to more than 100000 values (a YAML alias bomb?)" in error


def test_recursive_alias_is_refused(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: &loop [*loop]\n" + VALID_TAIL.replace("title: t\n", "title: t\nversion: 1.0.0\n")
    )
    assert errors_of(path) == [f"{path}:1:5: error: nested deeper than 64 levels"]


def test_deep_nesting(write: Write, errors_of: Errors) -> None:
    path = write("id: x\ndeep: " + "[" * 100 + "]" * 100 + "\n")
    assert errors_of(path) == [f"{path}:2:70: error: nested deeper than 64 levels"]


def test_very_deep_nesting_says_our_limit_whatever_libyaml_does(
    write: Write, errors_of: Errors
) -> None:
    # Past 1,000 levels libyaml (PyYAML >= 6.0.4) refuses on its own while scanning ahead;
    # the loader still says its own words at level 65 (the root mapping is level 1), as it
    # does with older PyYAML.
    path = write("id: x\ndeep: " + "[" * 3_000 + "]" * 3_000 + "\n")
    assert errors_of(path) == [f"{path}:2:70: error: nested deeper than 64 levels"]


def test_very_deep_nesting_after_wide_characters_points_at_level_65(
    write: Write, errors_of: Errors
) -> None:
    path = write("titre: « é »\nprofond: " + "[ " * 3_000 + "\n")
    assert errors_of(path) == [f"{path}:2:136: error: nested deeper than 64 levels"]


def test_merge_keys_are_supported(write: Write, loads: Callable[[Path], LoadedRunbook]) -> None:
    path = write("""\
        id: merged
        version: 1.0.0
        title: Merge keys share step settings
        owner: o
        steps:
          - &base {id: a, check: tcp.open, with: {host: h, port: 1}, retries: 2}
          - {<<: *base, id: b}
        """)
    runbook = loads(path).runbook
    assert [s.id for s in runbook.steps] == ["a", "b"]
    assert runbook.steps[1].retries == 2


def test_yaml_1_2_scalars(write: Write, errors_of: Errors) -> None:
    path = write(
        "id: x\nversion: 1.0.0\ntitle: t\nowner: o\n"
        "stakeholders: {support-desk: {language: no, channels: ['json://127.0.0.1/']}}\n"
        "steps:\n  - {id: a, check: tcp.open, with: {host: 1:30, port: 0x16}}\n"
    )
    (error,) = errors_of(path)  # 'no' stays the string "no", 1:30 stays text, 0x16 is 22
    assert "stakeholders.support-desk.language: Input should be 'en', 'fr' or 'nl'" in error


def test_unsupported_tag(write: Write, errors_of: Errors) -> None:
    path = write("id: !!python/object:os.system echo\n")
    assert errors_of(path) == [
        f"{path}:1:5: error: unsupported YAML tag 'tag:yaml.org,2002:python/object:os.system': "
        "runbooks use plain values"
    ]


def test_two_documents(write: Write, errors_of: Errors) -> None:
    path = write("id: x\n---\nid: y\n")
    assert errors_of(path) == [f"{path}:2:1: error: a runbook file holds one YAML document"]


def test_undefined_alias(write: Write, errors_of: Errors) -> None:
    path = write("id: *nothing\n")
    assert errors_of(path) == [f"{path}:1:5: error: undefined alias '*nothing'"]
