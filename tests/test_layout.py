"""The package layout's rules, read from the source: imports flow one way, no import side effects."""
import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("tfrecords_tools", "ds2_tf", "export")
# Who may import whom: corpus → TFRecords first, then the model stack, then the exports.
ALLOWED = {"tfrecords_tools": set(), "ds2_tf": {"tfrecords_tools"},
           "export": {"tfrecords_tools", "ds2_tf"}}
# The CLI's one way into `export` (nothing else in ds2_tf may import it).
EXPORT_ENTRY = "ds2_tf/cli/export_entry.py"
MAX_LINES = 400


def project_imports(path: Path) -> set[str]:
    """Top-level project packages a file imports (at module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found |= {n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES}
    return found


def sources():
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def test_imports_flow_one_way():
    wrong = []
    for path in sources():
        package = path.relative_to(REPO).parts[0]
        allowed = ALLOWED[package] | {package}
        if str(path.relative_to(REPO)) == EXPORT_ENTRY:
            allowed = allowed | {"export"}
        if project_imports(path) - allowed:
            wrong.append(f"{path.relative_to(REPO)} imports {sorted(project_imports(path) - allowed)}")
    assert not wrong, "\n".join(wrong)


def test_only_the_cli_table_imports_the_export_entry():
    importers = [str(p.relative_to(REPO)) for p in sources()
                 if "export_entry" in p.read_text(encoding="utf-8")
                 and str(p.relative_to(REPO)) != EXPORT_ENTRY]
    assert importers == ["ds2_tf/cli/app.py"]


def test_the_rule_checker_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from export.tflite import convert\n")
    assert project_imports(bad) == {"export"}


def test_no_source_file_is_longer_than_the_limit():
    long = [f"{p.relative_to(REPO)}: {n}" for p in sources()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, long


def test_no_private_keras_or_tensorflow_imports_outside_private_apis():
    for path in sources():
        if path.name == "private_apis.py":
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ("keras.src", "tensorflow.python", "tensorflow.compiler", "._distribute_strategy",
                       "._trainable_variables"):
            assert needle not in text, f"{path.relative_to(REPO)} uses {needle}"


def test_importing_every_module_changes_no_global_state():
    """Warnings filters, logger levels and the Keras dtype policy are the caller's."""
    modules = [".".join(p.relative_to(REPO).with_suffix("").parts) for p in sources()
               if p.name != "__main__.py"]
    code = f"""
import logging, warnings
import keras
before = (list(warnings.filters), {{n: logging.getLogger(n).level for n in
          list(logging.root.manager.loggerDict) + ['']}}, keras.config.dtype_policy().name)
import importlib
for name in {modules!r}:
    importlib.import_module(name)
after_filters = list(warnings.filters)
levels = {{n: logging.getLogger(n).level for n in before[1]}}
new = {{n: logging.getLogger(n).level for n in logging.root.manager.loggerDict if n not in before[1]}}
assert not any(new.values()), new
assert after_filters == before[0], set(map(str, after_filters)) ^ set(map(str, before[0]))
assert levels == before[1], {{n: l for n, l in levels.items() if l != before[1][n]}}
assert keras.config.dtype_policy().name == before[2]
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_cli_errors_show_the_line_that_says_what_went_wrong():
    from ds2_tf.cli.app import one_line

    traced = ValueError("in user code:\n\n    File \"x.py\", line 3, in call\n        y = f(x)\n\n"
                        "    ValueError: Exception encountered when calling RNN.call().\n\n"
                        "    Input tensor enters the loop with shape (1, 256)\n")
    assert one_line(traced) == ("ValueError: Exception encountered when calling RNN.call(). "
                                "Input tensor enters the loop with shape (1, 256)")
    assert one_line(ValueError("bad flag --x\nmore detail")) == "bad flag --x"
    assert one_line(RuntimeError("")) == "RuntimeError"
