"""The editor's state as a value: a genome, a cursor, and undo/redo history.

Pure Python over :mod:`genet_lab.encoding.genome`; knows nothing of Textual (so the
editing rules are testable without a terminal) and nothing of torch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from genet_lab.encoding import genome as gn
from genet_lab.encoding.genome import Genome, stage_length

STAGE_PATTERNS = {"zero": gn.zeros, "chain": gn.chain, "residual": gn.residual, "dense": gn.dense}
"""Whole-stage patterns the editor can stamp onto the current stage."""

MAX_EDIT_NODES = 16
"""Largest K the editor grows a stage to: 120 bits, still one screen line."""

MAX_EDIT_STAGES = 8


def resolve_genome(text: str, stages: Sequence[int] | str | None = None) -> Genome:
    """:func:`genet_lab.encoding.genome.resolve`, with a one-line error that quotes a mistyped
    name as typed and lists the genome names (the notation's own error lists the stray
    characters, sorted: ``'bgosu'`` for ``bogus``)."""
    try:
        return gn.resolve(text, stages)
    except gn.StrayCharacters:
        word = text.strip()
        stray = "".join(dict.fromkeys(re.sub(r"[01\-\s]", "", word)))  # in the order typed
        example = "e.g. 1-01 0-01-100 0-11-101-0001"
        if not re.search(r"[\s-]", word):
            raise ValueError(
                f"unknown genome name {word!r}; known names: {', '.join(gn.NAMED)}; or a notation ({example})"
            ) from None
        raise ValueError(
            f"a genome's notation has only 0, 1, '-' and spaces; {word!r} also has {stray!r} "
            f"({example}, or a name: {', '.join(gn.NAMED)})"
        ) from None


@dataclass(frozen=True)
class BitPosition:
    """Where a flat bit index lives: stage s (0-based) and edge i -> j (1-based nodes)."""

    stage: int
    i: int
    j: int
    offset: int
    """Index of the bit inside its stage."""


def locate(genome: Genome, index: int) -> BitPosition:
    """Stage and edge of the bit at flat position ``index``."""
    for s, start in enumerate(genome.stage_offsets()):
        n = stage_length(genome.stages[s])
        if start <= index < start + n:
            off = index - start
            j = 2
            while stage_length(j) <= off:
                j += 1
            return BitPosition(s, off - stage_length(j - 1) + 1, j, off)
    raise ValueError(f"bit index must be in 0..{genome.length - 1}, got {index}")


def index_of(genome: Genome, stage: int, i: int, j: int) -> int:
    """Flat index of edge (i, j) in ``stage``."""
    return genome.stage_offsets()[stage] + gn.pair_index(i, j)


@dataclass
class EditorModel:
    """A genome being edited: every change goes through here and can be undone."""

    genome: Genome
    cursor: int = 0
    undo_stack: list[tuple[Genome, int]] = field(default_factory=list)
    redo_stack: list[tuple[Genome, int]] = field(default_factory=list)

    # -- cursor ---------------------------------------------------------------
    @property
    def position(self) -> BitPosition:
        return locate(self.genome, self.cursor)

    @property
    def stage(self) -> int:
        """Current stage (0-based): the cursor's stage."""
        return self.position.stage

    def move(self, delta: int) -> None:
        """Move along the flat bit string, clamped at both ends."""
        self.cursor = max(0, min(self.genome.length - 1, self.cursor + delta))

    def move_stage(self, delta: int) -> None:
        """Move to the same edge (or the nearest one) in the previous/next stage."""
        pos = self.position
        s = max(0, min(self.genome.num_stages - 1, pos.stage + delta))
        if s == pos.stage:
            return
        k = self.genome.stages[s]
        j = min(pos.j, k)
        i = min(pos.i, j - 1)
        self.cursor = index_of(self.genome, s, i, j)

    def move_to(self, index: int) -> None:
        self.cursor = max(0, min(self.genome.length - 1, index))

    # -- edits ----------------------------------------------------------------
    def _apply(self, new: Genome, cursor: int | None = None) -> bool:
        if new == self.genome:
            return False
        self.undo_stack.append((self.genome, self.cursor))
        self.redo_stack.clear()
        self.genome = new
        self.cursor = self.cursor if cursor is None else cursor
        self.cursor = max(0, min(new.length - 1, self.cursor))
        return True

    def set_genome(self, genome: Genome) -> bool:
        """Replace the whole genome (undoable); the cursor goes to the first bit."""
        return self._apply(genome, 0 if genome.stages != self.genome.stages else self.cursor)

    def toggle(self, index: int | None = None) -> bool:
        if index is not None:
            self.move_to(index)
        return self._apply(self.genome.flip(self.cursor))

    def stamp(self, pattern: str) -> bool:
        """Set the current stage to zero/chain/residual/dense."""
        try:
            factory = STAGE_PATTERNS[pattern]
        except KeyError:
            raise ValueError(f"unknown stage pattern {pattern!r}; use one of {', '.join(STAGE_PATTERNS)}") from None
        s = self.stage
        return self._apply(self.genome.with_stage(s, factory((self.genome.stages[s],)).bits))

    def resize_stage(self, delta: int) -> bool:
        """Add (+1) or remove (-1) the last node of the current stage.

        Bits are ordered by target node, so adding node K+1 appends K zero bits
        and removing node K drops the last K-1 bits: other edges keep their meaning.
        """
        pos = self.position
        s, k = pos.stage, self.genome.stages[pos.stage]
        new_k = k + delta
        if new_k < 2 or new_k > MAX_EDIT_NODES:
            raise ValueError(f"a stage holds 2 to {MAX_EDIT_NODES} nodes in the editor; stage {s + 1} has {k}")
        per_stage = [list(self.genome.stage_bits(t)) for t in range(self.genome.num_stages)]
        bits = per_stage[s]
        per_stage[s] = bits + [0] * k if delta > 0 else bits[: stage_length(new_k)]
        new = Genome.from_stage_bits(per_stage)
        j, i = min(pos.j, new_k), min(pos.i, min(pos.j, new_k) - 1)
        return self._apply(new, index_of(new, s, i, j))

    def add_stage(self) -> bool:
        """Insert an all-zero stage after the current one, with the same K."""
        if self.genome.num_stages >= MAX_EDIT_STAGES:
            raise ValueError(f"the editor holds at most {MAX_EDIT_STAGES} stages")
        s = self.stage
        per_stage = [list(self.genome.stage_bits(t)) for t in range(self.genome.num_stages)]
        per_stage.insert(s + 1, [0] * stage_length(self.genome.stages[s]))
        new = Genome.from_stage_bits(per_stage)
        return self._apply(new, new.stage_offsets()[s + 1])

    def remove_stage(self) -> bool:
        """Remove the current stage (a genome keeps at least one); the cursor goes to the one before."""
        if self.genome.num_stages == 1:
            raise ValueError("a genome needs at least one stage")
        s = self.stage
        per_stage = [list(self.genome.stage_bits(t)) for t in range(self.genome.num_stages)]
        del per_stage[s]
        new = Genome.from_stage_bits(per_stage)
        return self._apply(new, new.stage_offsets()[max(0, s - 1)])

    def undo(self) -> bool:
        if not self.undo_stack:
            return False
        self.redo_stack.append((self.genome, self.cursor))
        self.genome, self.cursor = self.undo_stack.pop()
        return True

    def redo(self) -> bool:
        if not self.redo_stack:
            return False
        self.undo_stack.append((self.genome, self.cursor))
        self.genome, self.cursor = self.redo_stack.pop()
        return True
