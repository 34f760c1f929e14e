"""What a forensic query may be: one SELECT over the ledger's tables, nothing else (pure).

The statement is parsed by ClickHouse itself (``EXPLAIN AST``, see ``ledger/reader.py``),
never by a regular expression over its text; this module judges that tree:

* the root is a ``SELECT`` (``SelectWithUnionQuery``): no ``INSERT``, DDL, ``SET``,
  ``SYSTEM``, ``KILL``; its only children are the selects and the ``FORMAT`` the client
  adds, so ``INTO OUTFILE`` and a ``FORMAT`` of the caller's are refused;
* no ``SETTINGS`` clause anywhere (the limits the reader sets stay the limits);
* a table expression is a table of the ledger's database, a name a ``WITH`` clause binds,
  or one of a few table functions that compute rows from their arguments (``numbers``,
  ``values``, ...). Any other table function (``file``, ``url``, ``s3``, ``remote``,
  ``executable``, ``mysql``, ``input``, ...) is refused wherever it appears, as are the
  functions that reach dictionaries, joins or other hosts (``dictGet``, ``joinGet``,
  ``hasColumnInTable``, ...) and the ``file`` function.

An embedded ClickHouse (chdb) resolves a name that is no table to a file of its working
directory, and ``EXPLAIN AST`` does not show which names a ``WITH`` binds: a plain name
that is no ledger table is therefore accepted only while no such file exists
(``exists``), and ClickHouse refuses it at run time if no ``WITH`` binds it either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from handrail.ledger.errors import QueryRefused

SAFE_TABLE_FUNCTIONS = frozenset(
    {"numbers", "numbers_mt", "zeros", "zeros_mt", "generateSeries", "generate_series", "view"}
)  # fmt: skip
"""Table functions that only count or wrap a subquery (``format``, ``values`` and ``null``
take a structure whose column defaults the engine evaluates, unseen by the parse)."""
REFUSED_FUNCTIONS = frozenset(
    {"file", "joinGet", "joinGetOrNull", "hasColumnInTable", "catboostEvaluate",
     "modelEvaluate", "evalMLMethod", "getMacro", "filesystemAvailable",
     "filesystemCapacity", "filesystemUnreserved", "getServerSetting", "getClientHTTPHeader"}
)  # fmt: skip
"""Scalar functions that read files, models, joins or other hosts."""
REFUSED_PREFIXES = ("dict",)
"""``dictGet``, ``dictHas``, ... read dictionaries, which may be files or other hosts."""
IN_FUNCTIONS = frozenset(
    {"in", "notIn", "globalIn", "globalNotIn", "nullIn", "notNullIn", "globalNullIn",
     "globalNotNullIn"}
)  # fmt: skip
"""``x IN name``: a bare name on the right is a table (or a file, to an embedded engine)."""
CLIENT_FORMAT = "Native"
"""The ``FORMAT`` the client appends to every query it sends."""


@dataclass(frozen=True)
class Node:
    depth: int
    kind: str
    """``SelectQuery``, ``Function``, ``TableIdentifier``, ..."""
    name: str | None
    """A function's, table's or column's name; None where the label is not of the plain
    form ``Kind name (alias a) (children n)`` with plain identifiers (a literal's value,
    or a name with other characters)."""


_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_LABEL = re.compile(
    rf"(?P<kind>[A-Za-z]+)(?: (?P<name>{_ID}(?:\.{_ID})?))?(?: \(alias {_ID}\))?"
    r"(?: \(children (?P<children>\d+)\))?"
)
_KIND = re.compile(r"[A-Za-z]+")
_CHILDREN = re.compile(r" \(children (\d+)\)$")
_NODE_LINE = re.compile(r'\s*n(\d+)\[label="(.*)"\];')
_EDGE_LINE = re.compile(r"\s*n(\d+) -> n(\d+);")
_FRAME = frozenset({"digraph {", 'rankdir="UD";', "}"})


def parse(lines: Iterable[str]) -> list[Node]:
    """The nodes of ``EXPLAIN AST graph = 1`` output, in pre-order.

    The graph, not the indented text: a name may hold a newline, and in the text the lines
    after it could pass for nodes of the tree. In the graph every node and edge is named
    by the address of the engine's own node, which a query cannot know, so text smuggled
    in through a name makes a line of neither form, or a node the tree does not reach:
    either is refused, as is a node whose edges differ from the children it states."""
    labels: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    parents: dict[str, str] = {}
    for line in lines:
        if line.strip() in _FRAME:
            continue
        if node := _NODE_LINE.fullmatch(line):
            labels[node[1]] = node[2]
        elif edge := _EDGE_LINE.fullmatch(line):
            if edge[2] in parents:
                raise QueryRefused("the query's parse tree is malformed (a node twice)")
            parents[edge[2]] = edge[1]
            children.setdefault(edge[1], []).append(edge[2])
        else:
            raise QueryRefused("the query's parse tree is malformed (a name holds a line break?)")
    roots = [n for n in labels if n not in parents]
    if len(roots) != 1 or any(n not in labels for n in [*parents, *parents.values()]):
        raise QueryRefused("the query's parse tree is malformed (not one tree)")
    nodes: list[Node] = []
    stack = [(roots[0], 0)]
    while stack:
        key, depth = stack.pop()
        label, below = labels[key], children.get(key, [])
        stated = _CHILDREN.search(label)
        if len(below) != (int(stated[1]) if stated else 0):
            raise QueryRefused("the query's parse tree is malformed (children miscounted)")
        plain = _LABEL.fullmatch(label)
        kind = _KIND.match(label)
        nodes.append(Node(depth, kind[0] if kind else "", plain["name"] or "" if plain else None))
        stack += [(child, depth + 1) for child in reversed(below)]
    if len(nodes) != len(labels):
        raise QueryRefused("the query's parse tree is malformed (a node out of the tree)")
    return nodes


def check(
    nodes: list[Node],
    tables: frozenset[str],
    database: str,
    table_functions: frozenset[str],
    exists: Callable[[str], bool] = lambda name: False,
) -> None:
    """Raise ``QueryRefused`` naming the first thing the statement may not do.

    ``tables``: the ledger database's tables and views; ``database``: its name;
    ``table_functions``: every table function the engine knows
    (``system.table_functions``); ``exists``: whether a plain name is a file the engine
    would read in place of a table (embedded engine only)."""
    if not nodes or nodes[0].kind != "SelectWithUnionQuery":
        kind = nodes[0].kind if nodes else "nothing"
        raise QueryRefused(f"only a SELECT may be run on the ledger (this is {kind})")
    for child in _children(nodes, 0)[1:]:
        if child.kind == "Literal":
            raise QueryRefused("INTO OUTFILE is not allowed: results stay in the answer")
        if child.kind != "Identifier" or child.name != CLIENT_FORMAT:
            raise QueryRefused(f"a FORMAT or other trailing clause is not allowed ({child.kind})")
    for index, node in enumerate(nodes):
        if node.kind == "Set":
            raise QueryRefused("a SETTINGS clause is not allowed: the reader's limits apply")
        if node.kind == "Function":
            table_position = index > 0 and nodes[index - 1].kind == "TableExpression"
            _function(_plain(node), table_position, table_functions)
            if node.name in IN_FUNCTIONS:
                _in_operand(nodes, index, tables, database, exists)
        elif node.kind == "TableIdentifier":
            _table(_plain(node), tables, database, exists)
        elif node.kind in ("InsertQuery", "AlterQuery", "SetQuery", "SystemQuery"):
            raise QueryRefused(f"{node.kind} is not allowed inside a SELECT")


def _children(nodes: list[Node], index: int) -> list[Node]:
    depth = nodes[index].depth
    out = []
    for node in nodes[index + 1 :]:
        if node.depth <= depth:
            break
        if node.depth == depth + 1:
            out.append(node)
    return out


def _in_operand(
    nodes: list[Node],
    index: int,
    tables: frozenset[str],
    database: str,
    exists: Callable[[str], bool],
) -> None:
    has_arguments = index + 1 < len(nodes) and nodes[index + 1].kind == "ExpressionList"
    operands = _children(nodes, index + 1) if has_arguments else []
    if len(operands) == 2 and operands[1].kind == "Identifier":
        _table(_plain(operands[1]), tables, database, exists)


def _plain(node: Node) -> str:
    if node.name is None:
        raise QueryRefused(
            f"a {node.kind} whose name is not a plain identifier (letters, digits, _)"
        )
    return node.name


def _function(name: str, table_position: bool, table_functions: frozenset[str]) -> None:
    if name in SAFE_TABLE_FUNCTIONS:
        return
    if table_position or name in table_functions:
        raise QueryRefused(
            f"table function {name}() is not allowed: queries read the ledger's tables only"
        )
    if name in REFUSED_FUNCTIONS or name.startswith(REFUSED_PREFIXES):
        raise QueryRefused(f"function {name}() is not allowed: it reaches outside the ledger")


def _table(name: str, tables: frozenset[str], database: str, exists: Callable[[str], bool]) -> None:
    qualifier, dot, table = name.rpartition(".")
    if dot and qualifier == database and table in tables:
        return
    if not dot and name in tables:
        return
    if not dot and name.isidentifier() and name.isascii() and not exists(name):
        return  # a name its WITH clause binds (ClickHouse refuses it otherwise)
    raise QueryRefused(f"{name!r} is not a table of the ledger")
