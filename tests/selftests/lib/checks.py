"""Assertions: a failed check raises TestFailure with a short tag saying what
was expected and what came ("GET /items/{id} 200: want 2 got 1")."""


class TestFailure(AssertionError):
    """A check failed; str() is the short tag."""


def check(cond, tag):
    if not cond:
        raise TestFailure(tag)


def check_eq(tag, want, got):
    if want != got:
        raise TestFailure(f"{tag}: want {want} got {got}")


def check_series(tag, want, got):
    """Exact comparison of {key tuple: value} maps with a readable diff."""
    diffs = []
    for k in sorted(set(want) | set(got), key=str):
        w, g = want.get(k, 0), got.get(k, 0)
        if w != g:
            diffs.append(f"{' '.join(str(x) for x in k)}: want {w:g} got {g:g}")
    if diffs:
        more = f" (+{len(diffs) - 4} more)" if len(diffs) > 4 else ""
        raise TestFailure(f"{tag}: " + "; ".join(diffs[:4]) + more)


def each(cases, fn):
    """fn(case) for every case; all failures are reported, not only the first."""
    errors = []
    for case in cases:
        try:
            fn(case)
        except TestFailure as e:
            errors.append(str(e))
    if errors:
        raise TestFailure(" | ".join(errors))
