import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchkit.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
GOLDEN = ROOT / "tests" / "golden"
CURL = str(SAMPLES / "kluster-curl-example.jsonl")


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def test_clean_file_exits_zero_with_a_summary():
    result = run("validate", str(SAMPLES / "clean-chat.jsonl"))
    assert result.exit_code == 0, result.output
    assert "6 requests" in result.output
    assert "0 errors, 0 warnings: valid for provider kluster" in result.output


def test_findings_print_like_a_compiler():
    result = run("validate", CURL)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{CURL}:2: error[duplicate-custom-id] /custom_id: ")
    assert "line 1" in lines[0]
    assert lines[1].startswith(f"{CURL}:3: error[duplicate-custom-id]")
    assert "meta-llama/Meta-Llama-3.1-405B-Instruct (1)" in result.output


def test_json_format_is_one_object_per_file_or_an_array():
    one = json.loads(run("validate", "--format", "json", CURL).output)
    assert set(one) == {"file", "provider", "valid", "strict", "summary", "findings", "omitted"}
    assert set(one["summary"]) == {
        "lines",
        "requests",
        "bytes",
        "errors",
        "warnings",
        "models",
        "endpoints",
        "bodies",
    }
    assert one["valid"] is False and one["summary"]["errors"] == 2
    assert one["findings"][0] == {
        "severity": "error",
        "code": "duplicate-custom-id",
        "line": 2,
        "path": "/custom_id",
        "message": one["findings"][0]["message"],
        "related_lines": [1],
    }
    many = json.loads(run("validate", "--format", "json", CURL, str(SAMPLES / "clean-chat.jsonl")).output)
    assert [r["valid"] for r in many] == [False, True]


def test_provider_changes_the_rules():
    kluster = json.loads(run("validate", "--format", "json", CURL).output)
    openai = json.loads(run("validate", "--format", "json", "--provider", "openai", CURL).output)
    assert "mixed-model" not in {f["code"] for f in kluster["findings"]}
    assert [f["line"] for f in openai["findings"] if f["code"] == "mixed-model"] == [2, 3]


def test_provider_from_the_environment():
    result = CliRunner().invoke(
        cli, ["validate", "--format", "json", CURL], env={"BATCHKIT_PROVIDER": "azure"}
    )
    assert json.loads(result.output)["provider"] == "azure"


def test_github_annotations():
    result = run("validate", "--format", "github", CURL)
    assert result.output.splitlines()[0].startswith(f"::error file={CURL},line=2,title=duplicate-custom-id::")


def test_max_findings_caps_printing_not_counting():
    result = run("validate", "--format", "json", "--max-findings", "1", CURL)
    data = json.loads(result.output)
    assert len(data["findings"]) == 1 and data["summary"]["errors"] == 2
    text = run("validate", "--max-findings", "1", CURL).output
    assert "… 1 more finding not shown (duplicate-custom-id ×1); raise --max-findings" in text


def test_strict_fails_on_warnings():
    path = str(GOLDEN / "unknown-field.jsonl")
    assert run("validate", path).exit_code == 0
    assert run("validate", "--strict", path).exit_code == 1


def test_strict_is_one_truth_in_text_json_and_exit_status():
    path = str(GOLDEN / "unknown-field.jsonl")
    result = run("validate", "--strict", "--format", "json", path)
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["valid"] is False and data["strict"] is True and data["summary"]["errors"] == 0
    text = run("validate", "--strict", path)
    assert text.exit_code == 1
    assert "0 errors, 3 warnings: invalid (--strict: warnings count as errors)" in text.output
    assert json.loads(run("validate", "--format", "json", path).output)["valid"] is True


def request_line(custom_id, model="gpt-4o-mini", **body):
    body = {"model": model, "messages": [{"role": "user", "content": "Hi"}], **body}
    line = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    return json.dumps(line) + "\n"


def test_repeated_findings_of_one_code_are_one_text_line_and_separate_in_json(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(request_line("a") + "".join(request_line(f"r{i}", "gpt-4o") for i in range(2, 239)))
    result = run("validate", "--provider", "openai", str(path))
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{path}:2: error[mixed-model] ×237, lines 2–238; first: /body/model: model ")
    assert len(lines) == 3
    data = json.loads(run("validate", "--provider", "openai", "--format", "json", str(path)).output)
    assert [f["line"] for f in data["findings"]] == list(range(2, 239))


def test_a_few_findings_of_one_code_print_one_by_one(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(request_line("a") + request_line("b", "gpt-4o") + request_line("c", "gpt-4o"))
    lines = run("validate", "--provider", "openai", str(path)).output.splitlines()
    assert [line.split(": ")[1] for line in lines[:2]] == ["error[mixed-model] /body/model"] * 2


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_max_findings_shows_the_first_by_line(jobs, tmp_path, monkeypatch):
    monkeypatch.setattr("batchkit.validate.files.PARALLEL_MIN_BYTES", 0)
    path = tmp_path / "f.jsonl"
    lines = [request_line("a"), request_line("a")] + [request_line(f"x{i}", temperature=9) for i in range(40)]
    path.write_text("".join(lines))
    result = run("validate", "--jobs", jobs, "--max-findings", "3", "--format", "json", str(path))
    data = json.loads(result.output)
    assert [f["line"] for f in data["findings"]] == [2, 3, 4]
    assert data["summary"]["errors"] == 41
    assert data["omitted"] == {"out-of-range": 38}


def test_one_of_each_is_singular(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text(request_line("a", temprature=1))
    output = run("validate", str(path)).output
    assert ": 1 line, 1 request, " in output
    assert "0 errors, 1 warning: valid" in output


def test_field_names_cannot_forge_lines_or_drive_the_terminal(tmp_path):
    path = tmp_path / "evil.jsonl"
    evil = {"x\nevil.jsonl:9: error[fake] forged": 1, "\x1b[2J\x1b]0;title\x07cls": 2, "rtl\u202e": 3}
    path.write_text(request_line("a", **evil))
    for fmt in ("text", "github"):
        output = run("validate", "--format", fmt, str(path)).output
        assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output
        assert not any(line.startswith("evil.jsonl:9") for line in output.splitlines())
        assert "\\n" in output and "\\u202e" in output
    text = run("validate", str(path)).output
    assert len([line for line in text.splitlines() if "unknown-field" in line]) == 3


def test_quiet_prints_only_errors():
    assert run("validate", "-q", str(GOLDEN / "unknown-field.jsonl")).output == ""
    assert run("validate", "-q", str(SAMPLES / "clean-chat.jsonl")).output == ""


def test_limits_can_be_overridden():
    path = str(GOLDEN / "too-many-requests.jsonl")
    assert run("validate", path).exit_code == 0
    result = run("validate", "--max-requests", "2", "--max-bytes", "200B", path)
    assert result.exit_code == 1
    assert "error[too-many-requests]" in result.output and "error[file-too-large]" in result.output


def test_standard_input():
    data = (SAMPLES / "kluster-curl-example.jsonl").read_bytes()
    result = run("validate", "--format", "json", "-", input=data)
    assert json.loads(result.output)["file"] == "<stdin>"
    assert result.exit_code == 1


def test_missing_file_is_a_one_line_usage_error(tmp_path):
    result = run("validate", str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "no such file" in result.output


def test_unknown_provider_is_a_usage_error():
    assert run("validate", "--provider", "nope", CURL).exit_code == 2


@pytest.mark.slow  # the installed script itself is the point
def test_installed_script_in_a_real_subprocess():
    script = Path(sys.executable).with_name("batchkit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "batchkit"]
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run([*command, "validate", "--format", "json", CURL], capture_output=True, env=env)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["summary"]["requests"] == 3
    proc = subprocess.run([*command, "validate", "/nonexistent/batch.jsonl"], capture_output=True, env=env)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr


@pytest.mark.slow  # a fresh interpreter's imports are the point
def test_help_and_validate_never_import_pandas():
    code = (
        f"import sys; from batchkit.cli import main; sys.argv=['batchkit','validate',{CURL!r}];\n"
        "try: main()\nexcept SystemExit: pass\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    code = (
        "import sys; from batchkit.cli import main; sys.argv=['batchkit','--help'];\n"
        "try: main()\nexcept SystemExit: pass\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"validate" in proc.stdout


def test_readme_example_output_is_what_validate_prints(monkeypatch):
    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text()
    result = run("validate", "samples/kluster-curl-example.jsonl")
    block = readme.split("$ batchkit validate samples/kluster-curl-example.jsonl\n", 1)[1].split("```", 1)[0]
    assert result.output == block


def test_every_command_is_in_the_readme():
    from batchkit.cli import COMMANDS

    readme = (ROOT / "README.md").read_text()
    assert [name for name in COMMANDS if f"batchkit {name}" not in readme] == []


def test_every_listed_command_loads():
    import click

    from batchkit.cli import COMMANDS

    ctx = click.Context(cli)
    assert all(isinstance(cli.get_command(ctx, name), click.Command) for name in COMMANDS)


def test_finding_line_is_the_one_format_others_can_reuse():
    from batchkit.findings import Finding
    from batchkit.report import finding_line

    finding = Finding("unknown-field", "unknown field `a/b\n`", 4, "/a~1b\n")
    assert (
        finding_line("f.jsonl", finding)
        == "f.jsonl:4: warning[unknown-field] /a~1b\\n: unknown field `a/b\\n`"
    )
    assert finding_line("f.jsonl", Finding("empty-file", "empty")) == "f.jsonl: error[empty-file]: empty"


def test_unknown_field_paths_are_json_pointers(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text(request_line("a", **{"a/b~c": 1}))
    data = json.loads(run("validate", "--format", "json", str(path)).output)
    assert [f["path"] for f in data["findings"]] == ["/body/a~1b~0c"]


def test_strict_and_quiet_show_the_warnings_that_make_the_file_invalid():
    path = str(GOLDEN / "unknown-field.jsonl")
    text = run("validate", "--strict", "-q", path)
    assert text.exit_code == 1 and text.output.count("warning[unknown-field]") == 3
    github = run("validate", "--strict", "-q", "--format", "github", path)
    assert github.exit_code == 1 and github.output.count("::error ") == 3


def test_fix_format_json_prints_one_json_object(tmp_path):
    out = tmp_path / "fixed.jsonl"
    for source in (SAMPLES / "clean-chat.jsonl", SAMPLES / "kluster-curl-example.jsonl"):
        result = run("fix", str(source), "-o", str(out), "--dedupe-ids", "--format", "json")
        data = json.loads(result.output)
        assert data["written"] == {"path": str(out), "lines": len(out.read_text().splitlines())}
        assert result.exit_code == (0 if data["report"]["valid"] else 1)
    assert data["changes"] and all("renamed" in c["message"] for c in data["changes"])
