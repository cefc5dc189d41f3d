"""The metric names and label matchers a PromQL expression selects, for the
checks that every name the deploy/ rules and dashboards query is one the
agent exports. A small tokenizer, not a parser: it knows enough of PromQL
(strings, label matchers, ranges, grouping clauses, functions, aggregation
operators) to tell a metric name from everything else."""

import re

TOKEN = re.compile(r'''
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<number>[0-9][0-9a-zA-Z.]*|\.[0-9][0-9a-zA-Z.]*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@])
''', re.VERBOSE)

# Words that are never metric names where they stand.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile"}


def tokens(expr):
    """[(kind, text)] of expr, blanks left out; ValueError on a character
    PromQL does not have."""
    out, i = [], 0
    while i < len(expr):
        m = TOKEN.match(expr, i)
        if not m:
            raise ValueError(f"PromQL: unexpected {expr[i:i + 20]!r} in {expr!r}")
        if m.lastgroup != "space":
            out.append((m.lastgroup, m.group()))
        i = m.end()
    return out


def _skip_group(toks, i, open_, close):
    """Index after the bracket group opening at toks[i]."""
    depth = 0
    while i < len(toks):
        if toks[i] == ("op", open_):
            depth += 1
        elif toks[i] == ("op", close):
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"PromQL: unbalanced {open_}")


def selectors(expr):
    """[(metric name, {label name: (operator, value)})] of each vector selector in expr."""
    toks = tokens(expr)
    found, i = [], 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else (None, None)
        if kind == "ident" and text in GROUPING and nxt == ("op", "("):
            i = _skip_group(toks, i + 1, "(", ")")  # a list of label names
        elif kind == "ident" and (nxt == ("op", "(") or text in KEYWORDS
                                  or text in AGGREGATIONS or text in GROUPING):
            i += 1  # a function, an operator, a keyword
        elif kind == "ident":
            matchers, i = {}, i + 1
            if nxt == ("op", "{"):
                end = _skip_group(toks, i, "{", "}")
                inner = toks[i + 1:end - 1]
                for j in range(0, len(inner), 4):  # name op "value" [,]
                    name, op, value = inner[j:j + 3]
                    if name[0] != "ident" or op[0] != "op" or value[0] != "string":
                        raise ValueError(f"PromQL: bad label matcher in {expr!r}")
                    matchers[name[1]] = (op[1], value[1][1:-1])
                i = end
            found.append((text, matchers))
        elif (kind, text) == ("op", "["):
            i = _skip_group(toks, i, "[", "]")  # a range or subquery
        else:
            i += 1
    return found
