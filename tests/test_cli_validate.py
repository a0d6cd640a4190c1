import json
import os
import subprocess
import sys
from pathlib import Path

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
    assert "0 error(s), 0 warning(s): valid for provider kluster" in result.output


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
    assert set(one["summary"]) == {"lines", "requests", "bytes", "errors", "warnings", "models", "endpoints"}
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
    assert "1 more finding(s) not shown" in text


def test_strict_fails_on_warnings():
    path = str(GOLDEN / "unknown-field.jsonl")
    assert run("validate", path).exit_code == 0
    assert run("validate", "--strict", path).exit_code == 1


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


def test_installed_script_in_a_real_subprocess():
    script = Path(sys.executable).with_name("batchkit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "batchkit"]
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run([*command, "validate", "--format", "json", CURL], capture_output=True, env=env)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["summary"]["requests"] == 3
    proc = subprocess.run([*command, "validate", "/nonexistent/batch.jsonl"], capture_output=True, env=env)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr


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
