"""The repository as a Slicer extension: CMake lists every file, the .ui has what the code uses,
each module defines what Slicer's generic module tests check, the catalog entry is well formed."""

from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import MODULE_DIRS, ROOT

MODULES = {d.name.removesuffix("Module"): d for d in MODULE_DIRS}  # e.g. ALPS -> ALPSModule/


def cmake_lists(path: Path) -> dict[str, list[str]]:
    """Variables set with set(NAME items...) in a CMakeLists.txt, ${MODULE_NAME} expanded."""
    text = re.sub(r"#.*", "", path.read_text())
    variables: dict[str, list[str]] = {}
    for name, body in re.findall(r"set\(\s*(\w+)\s+(.*?)\)", text, flags=re.S):
        variables[name] = body.split()
    module = variables.get("MODULE_NAME", [""])[0]
    return {k: [v.replace("${MODULE_NAME}", module) for v in items] for k, items in variables.items()}


def test_top_level_cmake_is_a_slicer_extension():
    text = (ROOT / "CMakeLists.txt").read_text()
    for key in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf"set\(EXTENSION_{key}\s+\S", text), key
    assert "find_package(Slicer REQUIRED)" in text and "include(${Slicer_USE_FILE})" in text
    assert "include(${Slicer_EXTENSION_GENERATE_CONFIG})" in text and "include(${Slicer_EXTENSION_CPACK})" in text
    subdirectories = re.findall(r"add_subdirectory\((\w+)\)", text)
    assert sorted(subdirectories) == sorted(["ALPSExtension", *(d.name for d in MODULE_DIRS)])
    assert (ROOT / "glymph.png").is_file()


def test_shared_code_cmake_lists_every_package_file():
    folder = ROOT / "ALPSExtension"
    variables = cmake_lists(folder / "CMakeLists.txt")
    listed = set(variables["GLYMPH_PYTHON_SCRIPTS"]) | set(variables["GLYMPH_PYTHON_RESOURCES"])
    on_disk = {
        str(p.relative_to(folder))
        for package in ("glymph", "glymph_mrml", "glymph_gui")
        for p in (folder / package).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert listed == on_disk
    assert "ctkMacroCompilePythonScript" in (folder / "CMakeLists.txt").read_text()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_cmake_lists_every_file(name):
    folder = MODULES[name]
    variables = cmake_lists(folder / "CMakeLists.txt")
    scripts, resources = variables["MODULE_PYTHON_SCRIPTS"], variables["MODULE_PYTHON_RESOURCES"]
    for path in scripts + resources:
        assert (folder / path).is_file(), path
    python_files = {
        str(p.relative_to(folder))
        for p in folder.rglob("*.py")
        if "Resources" not in p.parts and "__pycache__" not in p.parts
    }
    assert python_files == set(scripts)
    resource_files = {
        str(p.relative_to(folder))
        for p in (folder / "Resources").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert resource_files == set(resources)
    text = (folder / "CMakeLists.txt").read_text()
    assert "slicerMacroBuildScriptedModule" in text and "WITH_GENERIC_TESTS" in text


def module_tree(name: str) -> ast.Module:
    return ast.parse((MODULES[name] / f"{name}.py").read_text())


def class_named(tree: ast.Module, name: str) -> ast.ClassDef:
    return next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_defines_what_slicer_generic_tests_check(name):
    tree = module_tree(name)
    module = class_named(tree, name)
    assigned = {}
    for node in ast.walk(module):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
            target = node.targets[0]
            if isinstance(target.value, ast.Attribute) and target.value.attr == "parent":
                assigned[target.attr] = node.value
    for field in ("title", "categories", "contributors", "helpText", "acknowledgementText"):
        assert field in assigned, field
    assert isinstance(assigned["categories"], ast.List) and assigned["categories"].elts
    assert isinstance(assigned["contributors"], ast.List) and assigned["contributors"].elts
    for suffix in ("Widget", "Logic", "Test"):
        class_named(tree, name + suffix)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_ui_has_every_widget_and_parameter_the_code_uses(name):
    ui = ET.parse(MODULES[name] / "Resources" / "UI" / f"{name}.ui").getroot()
    widgets = {w.get("name"): w for w in ui.iter("widget")}
    source = (MODULES[name] / f"{name}.py").read_text() + (
        ROOT / "ALPSExtension" / "glymph_gui" / "widget.py"
    ).read_text()
    for used in set(re.findall(r"self\.ui\.(\w+)", source)):
        assert used in widgets, f"{name}.py uses self.ui.{used}, which {name}.ui lacks"
    bound = {}
    for widget_name, widget in widgets.items():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.find("string").text] = widget_name
    parameter_class = class_named(module_tree(name), f"{name}ParameterNode")
    fields = {node.target.id for node in parameter_class.body if isinstance(node, ast.AnnAssign)}
    assert set(bound) == fields, "every parameter has one widget and every bound widget a parameter"
    for connection in ui.iter("connection"):
        assert connection.find("receiver").text in widgets


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_requirements_are_project_dependencies(name):
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dependencies = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    declared = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() for d in dependencies}
    files = sorted((MODULES[name] / "Resources").glob("requirements*.txt"))
    assert files
    lines = [line for path in files for line in path.read_text().splitlines()]
    required = {
        re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower()
        for line in lines
        if line.strip() and not line.startswith("#")
    }
    assert required <= declared


def test_extension_catalog_entry():
    entry = json.loads((ROOT / "Glymph.json").read_text())
    allowed = {
        "$schema",
        "category",
        "scm_url",
        "scm_revision",
        "scm_type",
        "build_dependencies",
        "dicom_support_rule",
        "build_subdirectory",
        "enabled",
        "tier",
    }
    assert {"$schema", "category", "scm_url"} <= set(entry) <= allowed
    assert entry["$schema"].startswith(
        "https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/slicer-extension-catalog-entry-schema-v1.0."
    )
    assert entry["scm_type"] in ("git", "local") and 1 <= entry["tier"] <= 5


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    return names | {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }


def test_backend_never_imports_slicer_or_qt_and_the_bridge_never_qt():
    for path in (ROOT / "ALPSExtension" / "glymph").rglob("*.py"):
        assert not imported_modules(path) & {"slicer", "qt", "ctk", "vtk"}, path
    for path in (ROOT / "ALPSExtension" / "glymph_mrml").rglob("*.py"):
        assert not imported_modules(path) & {"qt", "ctk"}, path
        attributes = {node.attr for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Attribute)}
        assert "app" not in attributes and "mrmlScene" not in attributes, path


BACKEND = ROOT / "ALPSExtension" / "glymph"
SUBPACKAGES = sorted(p.parent.name for p in BACKEND.glob("*/__init__.py"))
# the glymph packages each part of the backend may import, besides the core (the top-level modules)
ALLOWED = {
    "core": set(),
    "models": set(),
    "dti": set(),
    "alps": {"dti", "models"},
    "epvs": {"models"},
    "vein": {"models"},
    "phantoms": {"dti", "alps", "epvs", "vein"},
    "training": {"dti", "alps", "epvs", "vein", "models", "phantoms"},
    "cohort": set(),  # it runs `python -m glymph.cli` commands, never their code
    "cli": {"dti", "alps", "epvs", "vein", "models", "phantoms", "training", "cohort"},
}


def part_of(module: str) -> str:
    """'alps' for glymph.alps.pipeline, 'core' for glymph.volume or glymph itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGES else "core"


def glymph_imports(path: Path) -> set[str]:
    """Every glymph module a file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "glymph"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "glymph":
            for alias in node.names:  # `from glymph.cli import commands` imports the module glymph.cli.commands
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if module_file(submodule) else node.module)
    return found


def test_the_backend_has_a_package_per_domain():
    assert sorted(ALLOWED.keys() - {"core"}) == SUBPACKAGES


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_package_boundaries(part):
    """The core imports no package; models no measurement package; no computation package imports
    phantoms or cli; each package only what its row of ALLOWED says."""
    files = BACKEND.glob("*.py") if part == "core" else (BACKEND / part).rglob("*.py")
    for path in files:
        used = {part_of(module) for module in glymph_imports(path)} - {"core", part}
        assert used <= ALLOWED[part], (
            f"{path.relative_to(ROOT)} imports glymph.{', glymph.'.join(sorted(used - ALLOWED[part]))}"
        )


def test_the_cohort_runner_checks_the_files_a_reanalysis_reads():
    """glymph.cohort may not import glymph.alps: its list of a reanalysis's inputs must stay the one
    glymph.alps.files reads."""
    from glymph.alps.files import SAVED_FOR_REANALYSIS
    from glymph.cohort.tasks import REANALYSIS_INPUTS

    assert REANALYSIS_INPUTS == SAVED_FOR_REANALYSIS


def test_package_boundaries_are_checked_on_real_imports():
    """The parser sees top-level and function-level imports alike (so the test above can fail)."""
    assert part_of("glymph.epvs.preprocess") == "epvs" and part_of("glymph.volume") == "core"
    assert {"glymph.models.deepbet", "glymph.registration"} <= glymph_imports(BACKEND / "epvs" / "preprocess.py")
    assert "glymph.phantoms" in glymph_imports(BACKEND / "cli" / "commands.py")


def module_file(module: str) -> Path | None:
    """The file of a glymph module (a package's __init__.py), or None for a name inside a module."""
    path = BACKEND.parent.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_no_import_cycles():
    """No module needs, even inside a function, a module that needs it back (the old pipeline <-> qc)."""
    graph = {}
    for path in BACKEND.rglob("*.py"):
        targets = (module_file(m) or module_file(m.rsplit(".", 1)[0]) for m in glymph_imports(path))
        graph[path] = {t for t in targets if t is not None and t != path}
    visiting, done = [], set()

    def visit(node: Path) -> None:
        if node in done:
            return
        assert node not in visiting, "import cycle: " + " -> ".join(
            str(p.relative_to(BACKEND)) for p in [*visiting[visiting.index(node) :], node]
        )
        visiting.append(node)
        for target in graph.get(node, ()):
            visit(target)
        visiting.pop()
        done.add(node)

    for path in graph:
        visit(path)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_panel_choices_and_defaults_come_from_the_backend(name):
    """No hard-coded choice list or default value in a parameter node, and no combo box items in the
    .ui: they come from ``glymph.defaults`` (the Choice annotation fills the combo box)."""
    parameter_class = class_named(module_tree(name), f"{name}ParameterNode")
    for node in parameter_class.body:
        if not isinstance(node, ast.AnnAssign):
            continue
        for call in (
            n for n in ast.walk(node.annotation) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Choice"
        ):
            assert "defaults" in ast.unparse(call), f"{node.target.id}: {ast.unparse(call)}"
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str | float):
            assert node.target.id == "slabCenter", f"{node.target.id} = {node.value.value!r}: use glymph.defaults"
    ui = ET.parse(MODULES[name] / "Resources" / "UI" / f"{name}.ui").getroot()
    for widget in ui.iter("widget"):
        bound = any(prop.get("name") == "SlicerParameterName" for prop in widget.findall("property"))
        if widget.get("class") == "QComboBox" and bound:
            assert widget.find("item") is None, f"{widget.get('name')} lists its own items"


def test_extension_configures_with_cmake(tmp_path):
    """`cmake` configures the extension against a stand-in Slicer package whose macros check every listed file."""
    import subprocess

    from conftest import require_tool

    cmake = require_tool("cmake")
    done = subprocess.run(
        [
            cmake,
            "-S",
            str(ROOT),
            "-B",
            str(tmp_path),
            f"-DSlicer_DIR={ROOT / 'Testing' / 'fake_slicer'}",
            "-DBUILD_TESTING=ON",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "modules.txt").read_text().split() == sorted(MODULES)
    installed = set((tmp_path / "installed_files.txt").read_text().split())
    assert str(ROOT / "ALPSExtension" / "glymph" / "data" / "mni152" / "wm.nii.gz") in installed
    assert str(ROOT / "ALPSModule" / "ALPSLib" / "logic.py") in installed


@pytest.mark.parametrize("required", [False, True])
def test_a_skipped_test_fails_the_run_under_ci(tmp_path, required):
    """With GLYMPH_REQUIRE_REFERENCES=1 (CI) a skip, by importorskip or otherwise, fails the run."""
    import os
    import shutil
    import subprocess
    import sys

    shutil.copy(ROOT / "Testing" / "conftest.py", tmp_path)
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\ndef test_needs_a_missing_tool():\n    pytest.importorskip('no_such_module_here')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GLYMPH_REQUIRE_REFERENCES"}
    if required:
        env["GLYMPH_REQUIRE_REFERENCES"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "1 skipped" in done.stdout
    assert (done.returncode != 0) == required, done.stdout
