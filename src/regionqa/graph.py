"""The entity co-occurrence network: entities are nodes, linked when they occur in the same sentence.

Exported as GraphML for network tools such as Gephi or Cytoscape. networkx is imported only here.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .errors import BadInputError
from .models import Mention

if TYPE_CHECKING:
    import networkx as nx


def node_id(text: str, label: str) -> str:
    """The node of an entity: its label and text, as `entities` groups them ("GPE:Azerbaijan")."""
    return f"{label}:{text}"


def cooccurrence_graph(mentions: Iterable[Mention], sentences: Mapping[str, Sequence[tuple[int, int]]]) -> nx.Graph:
    """The undirected network of entities that share a sentence.

    Args:
        mentions: every entity mention, (text, label, source, start, end).
        sentences: each source's sentences as (start, end) offsets, sorted by start.

    Returns:
        A networkx Graph. Node attributes: `label` (the entity's text, which Gephi shows),
        `entity_label` (PERSON, ORG, GPE, ...), `count` (mentions). Edge attribute: `weight`,
        the number of sentences the two entities share. A mention belongs to the sentence it
        starts in; an entity named twice in one sentence links nothing to itself.

    Example:
        >>> g = cooccurrence_graph([("Baku", "GPE", "a.txt", 0, 4), ("SCO", "ORG", "a.txt", 9, 12)], {"a.txt": [(0, 20)]})
        >>> g.edges["GPE:Baku", "ORG:SCO"]["weight"]
        1
    """
    import networkx as nx

    graph = nx.Graph()
    starts = {source: [start for start, _ in spans] for source, spans in sentences.items()}
    in_sentence: dict[tuple[str, int], set[str]] = {}
    for text, label, source, start, _end in mentions:
        node = node_id(text, label)
        if node in graph:
            graph.nodes[node]["count"] += 1
        else:
            graph.add_node(node, label=text, entity_label=label, count=1)
        index = bisect_right(starts.get(source, []), start) - 1
        if index >= 0 and start < sentences[source][index][1]:
            in_sentence.setdefault((source, index), set()).add(node)
    for nodes in in_sentence.values():
        for a, b in combinations(sorted(nodes), 2):
            if graph.has_edge(a, b):
                graph.edges[a, b]["weight"] += 1
            else:
                graph.add_edge(a, b, weight=1)
    return graph


def write_graphml(graph: nx.Graph, target: Path | IO[bytes]) -> None:
    """Write the network as GraphML to a path or a binary stream; BadInputError if the file cannot be written."""
    import networkx as nx

    try:
        nx.write_graphml(graph, target, encoding="utf-8", prettyprint=True)
    except OSError as error:
        raise BadInputError(f"{target}: cannot write the GraphML file ({error.strerror})") from None


def graphml_text(graph: nx.Graph) -> str:
    """The network as a GraphML document (for stdout)."""
    import networkx as nx

    return "\n".join(nx.generate_graphml(graph, encoding="utf-8", prettyprint=True)) + "\n"
