"""``decode``, ``show`` and ``space``: inspecting genomes without training."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

from genet_lab.cli import options
from genet_lab.cli.common import add_input_overrides, atomic_write, network_config
from genet_lab.encoding.genome import NAMED, Genome, parse_stages, resolve
from genet_lab.encoding.graph import decode_json, structure_hash, structure_key
from genet_lab.encoding.presets import list_presets
from genet_lab.errors import UsageError
from genet_lab.training.catalog import DEFAULT_PRESET


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decode", help="decode genomes into stage graphs (one JSON object a line)")
    p.add_argument(
        "genomes",
        nargs="+",
        metavar="GENOME",
        help="paper notation ('1-01 0-01-100 0-11-101-0001'), a name, bits with --stages, or - for stdin",
    )
    options.add(p, "stages", help="stage sizes for plain bit strings, e.g. 3,4,5")
    options.add(p, "json", help="JSON output (the only format; kept for symmetry)")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser(
        "show",
        help="draw a genome's stages and count its parameters and multiply-adds",
        description=(
            "Draw a genome's stages and count its parameters and multiply-adds. paper-best is GeNet #1 of the "
            "paper's Figure 5 (Table 1's generation-50 best, whose code the paper prints). GeNet #2 appears "
            "only as a drawing in Figure 5, its code is not in the paper's text, so no name stands for it."
        ),
    )
    p.add_argument(
        "genome", metavar="GENOME", help=f"paper notation, a name ({', '.join(NAMED)}), or bits with --stages"
    )
    options.add(p, "stages", help="stage sizes for plain bit strings or named genomes, e.g. 3,4,5")
    options.add(p, "preset", default=DEFAULT_PRESET, help=f"network preset: {', '.join(list_presets())}")
    add_input_overrides(p)
    options.add(p, "json")
    p.add_argument("--format", choices=("svg", "png", "dot"), help="render the stages with graphviz")
    p.add_argument("--output", "-o", help="file for --format (default: stdout for dot)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("space", help="count bit strings and distinct structures of a search space")
    options.add(p, "stages", default="3,4,5", help="stage sizes, e.g. 3,4,5 (each K <= 7; default 3,4,5)")
    options.add(p, "json")
    p.set_defaults(func=cmd_space)


def _read_genomes(items: list[str], stages: tuple[int, ...] | None) -> Iterator[Genome]:
    for item in items:
        if item == "-":
            for n, line in enumerate(sys.stdin, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    try:
                        yield resolve(line, stages)
                    except ValueError as exc:
                        raise UsageError(f"stdin line {n}: {exc}") from None
        else:
            yield resolve(item, stages)


def cmd_decode(args) -> int:
    for genome in _read_genomes(args.genomes, options.stage_sizes(args.stages)):
        print(json.dumps(decode_json(genome)), flush=True)
    return 0


def cmd_show(args) -> int:
    from genet_lab.encoding.complexity import complexity
    from genet_lab.encoding.draw import genome_text, render

    genome = resolve(args.genome, options.stage_sizes(args.stages))
    config = network_config(args, genome)
    cx = complexity(genome, config)
    if args.format:  # the arguments are checked before graphviz is asked for anything
        folder = Path(args.output).parent if args.output else None
        if args.output is None and args.format != "dot":
            raise UsageError(f"--format {args.format} needs --output FILE")
        if folder is not None and not folder.is_dir():
            raise UsageError(f"--output {args.output}: folder {folder} does not exist")
        data = render(genome, args.format, title=genome.notation())
        if args.output:
            atomic_write(Path(args.output), data)
        else:
            sys.stdout.write(data.decode())
            return 0
    elif args.output:
        raise UsageError("--output needs --format svg, png or dot")
    if args.json:
        out = {
            "genome": genome.notation(),
            "stages": list(genome.stages),
            "bits": genome.bitstring(),
            "preset": config.name,
            "input": [config.in_channels, config.image_size, config.image_size],
            "num_classes": config.num_classes,
            **cx.to_dict(),
            "structure_key": structure_key(genome),
            "structure_hash": structure_hash(genome),
            "graph": decode_json(genome)["stages"],
        }
        if args.output:
            out["output"] = str(args.output)
        print(json.dumps(out))
        return 0
    for line in textwrap.wrap(genome.notation(), 80, initial_indent="genome     ", subsequent_indent=" " * 11):
        print(line)
    bits = f": {genome.bitstring()}" if genome.length <= 40 else ""
    print(f"stages     {','.join(map(str, genome.stages))}  (L = {genome.length} bits{bits})")
    print(f"structure  {structure_hash(genome)}")
    print(
        f"preset     {config.name}: {config.in_channels}x{config.image_size}x{config.image_size} input, "
        f"{config.num_classes} classes, widths {','.join(map(str, config.stage_widths(genome.num_stages)))}"
    )
    print()
    print(genome_text(genome))
    print()
    print(f"params     {cx.params:,}")
    print(f"mult-adds  {_human(cx.macs)} per image")
    print(f"convs      {' + '.join(map(str, cx.convs))} in the stages (depths {', '.join(map(str, cx.stage_depths))})")
    print(f"depth      {cx.depth} convolutions on the longest path, {cx.layers} layers with the head")
    if args.output:
        print(f"wrote      {args.output}")
    return 0


def _human(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit} ({n:,})"
    return str(n)


def cmd_space(args) -> int:
    from genet_lab.encoding.space import count_space

    stages = parse_stages(args.stages)
    result = count_space(stages, progress=_SpaceProgress(stages))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'stage':>5} {'K':>3} {'bits':>5} {'bit strings':>14} {'distinct':>12}")
    for s, row in enumerate(result["stages"], 1):
        print(f"{s:>5} {row['K']:>3} {row['bits']:>5} {row['strings']:>14,} {row['distinct']:>12,}")
    print(
        f"{'all':>5} {'':>3} {sum(r['bits'] for r in result['stages']):>5} "
        f"{result['strings']:>14,} {result['distinct']:>12,}"
    )
    return 0


class _SpaceProgress:
    """Progress on stderr while ``space`` enumerates stages of K >= 6 (K = 7: 2^21 bit strings,
    a minute or more): a line before it starts, then the share done and the time left, updated in
    place on a terminal and every 10% elsewhere. Small stages, or ones already counted, print nothing."""

    SLOW_K = 6

    def __init__(self, stages: tuple[int, ...]):
        import time

        self.clock = time.monotonic
        self.tty = sys.stderr.isatty()
        self.started: dict[int, float] = {}
        self.shown = -1

    def __call__(self, k: int, done: int, total: int) -> None:
        if k < self.SLOW_K:
            return
        now = self.clock()
        if k not in self.started:
            self.started[k], self.shown = now, -1
            print(
                f"space: counting the distinct structures of a K={k} stage enumerates all {total:,} of its bit "
                f"strings; this takes {'minutes' if k >= 7 else 'a few seconds or more'} (done once per K)",
                file=sys.stderr,
                flush=True,
            )
        pct = 100 * done // total
        if pct == self.shown or (not self.tty and pct % 10 and done < total):
            return
        self.shown = pct
        elapsed = now - self.started[k]
        left = f", about {elapsed * (total - done) / done:.0f} s left" if done and done < total else ""
        line = f"space: K={k}: {pct}% of {total:,} bit strings, {elapsed:.0f} s{left}"
        if self.tty:
            print(f"\r{line}\x1b[K", end="\n" if done >= total else "", file=sys.stderr, flush=True)
        elif pct:
            print(line, file=sys.stderr, flush=True)
