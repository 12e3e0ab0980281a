"""Consoles for the `riskstream` command that wrap text only on a terminal.

Rich wraps at 80 columns (or ``$COLUMNS``) even when its output is a pipe or a file, so
an error naming a long path would be cut in the middle of a word for a script, a log
collector or a test reading it. These consoles lay text out for the terminal's width
when there is a terminal, and otherwise print each line whole: tables are drawn
`PIPE_WIDTH` wide and text is never wrapped.
"""

from typing import Any

from rich.console import Console, ConsoleDimensions

PIPE_WIDTH = 160


class CommandConsole(Console):
    """A `rich.console.Console` that does not wrap what goes to a pipe or a file."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._width_given = kwargs.get("width") is not None

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size (``$COLUMNS`` wins, as in Rich); `PIPE_WIDTH` columns when
        the output is no terminal, whatever ``$COLUMNS`` says."""
        if self.is_terminal or self._width_given:
            return super().size
        return ConsoleDimensions(PIPE_WIDTH, 25)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Print as Rich does; text going to a pipe or a file is not wrapped."""
        if kwargs.get("soft_wrap") is None and not self.is_terminal:
            kwargs["soft_wrap"] = True
        super().print(*objects, **kwargs)


def command_console(*, stderr: bool = False) -> Console:
    """A console for standard output (or standard error) of a command."""
    return CommandConsole(stderr=stderr)
