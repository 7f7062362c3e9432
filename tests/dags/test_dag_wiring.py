"""DAG files only wire: every rule lives in the library, where it is unit tested.

Read from the files' syntax trees, so a violation fails before Airflow is even imported:
at module level a DAG file defines only its @dag function (no helper function, no class);
inside it, only task bodies; and a task body is at most a docstring and one `return` of
a library call.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nasaflow.settings import PROJECT_ROOT

DAG_FILES = sorted((PROJECT_ROOT / "dags").glob("*.py"))


def decorator_names(function: ast.FunctionDef) -> set[str]:
    """The dotted names of a function's decorators (`task.sensor(...)` -> task.sensor)."""
    names = set()
    for decorator in function.decorator_list:
        node = decorator.func if isinstance(decorator, ast.Call) else decorator
        names.add(ast.unparse(node))
    return names


def wiring_problems(source: str) -> list[str]:
    """What in a DAG file's source is more than wiring, one line each."""
    problems = []
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.AsyncFunctionDef):
            problems.append(f"line {node.lineno}: {node.name} is defined in a DAG file")
        elif isinstance(node, ast.FunctionDef):
            if "dag" not in decorator_names(node):
                problems.append(f"line {node.lineno}: function {node.name} is not the @dag")
                continue
            for inner in ast.walk(node):
                if inner is node or not isinstance(inner, ast.FunctionDef | ast.ClassDef
                                                   | ast.AsyncFunctionDef | ast.Lambda):
                    continue
                if not isinstance(inner, ast.FunctionDef) or not any(
                        name.split(".")[0] == "task" for name in decorator_names(inner)):
                    name = getattr(inner, "name", "lambda")
                    problems.append(f"line {inner.lineno}: {name} is not a task body")
                    continue
                body = inner.body
                if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value,
                                                                         ast.Constant):
                    body = body[1:]
                if len(body) != 1 or not isinstance(body[0], ast.Return) \
                        or not isinstance(body[0].value, ast.Call):
                    problems.append(f"line {inner.lineno}: task {inner.name} does more than "
                                    "return one library call")
    return problems


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda path: path.name)
def test_dag_files_only_wire(path: Path) -> None:
    assert wiring_problems(path.read_text()) == []


@pytest.mark.parametrize(("source", "problem"), [
    ("def helper():\n    return 1\n", "helper is not the @dag"),
    ("class Operator:\n    pass\n", "Operator is defined in a DAG file"),
    ("@dag()\ndef d():\n    def helper():\n        return 1\n", "helper is not a task body"),
    ("@dag()\ndef d():\n    @task\n    def t():\n        x = 1\n        return f(x)\n",
     "task t does more than return one library call"),
    ("@dag()\ndef d():\n    @task.sensor(poke_interval=5)\n    def t():\n"
     "        if g():\n            return f()\n", "task t does more than"),
])
def test_the_check_names_logic_in_a_dag_file(source: str, problem: str) -> None:
    assert any(problem in line for line in wiring_problems(source))


def test_the_check_accepts_a_task_that_returns_a_library_call() -> None:
    source = ('@dag()\ndef d():\n    @task(pool="p")\n    def t(params):\n'
              '        """Why."""\n        return steps.t(params)\n    t()\n')
    assert wiring_problems(source) == []
