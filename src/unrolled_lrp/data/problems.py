"""Dataset problems and the exception that lists them all at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One defect of a dataset: the offending file or folder and what is wrong with it."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DatasetError(Exception):
    """A dataset that cannot be used; the message lists every problem with its file path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"{len(self.problems)} dataset problem(s):\n{lines}\n"
            "Fix or remove the listed files (run 'ulrp data check --root ROOT' to re-check)."
        )

    @classmethod
    def single(cls, path: Path, message: str) -> DatasetError:
        """The error of one problem: ``message`` about ``path``."""
        return cls([Problem(path, message)])


class DatasetWarning(UserWarning):
    """A dataset that can be used but will not give what its class file promises (a class no image contains)."""
