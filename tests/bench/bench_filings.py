"""Financial filings: where `localrag eval` misses on financebench, and on which companies.

Reads the per-question results of `localrag eval` (one or more runs, side by side) with the
questions file and the set's docs.jsonl, and reports for each run:
- hit@4 on all questions, on the companies the filing rules were tuned on and on the held-out
  ones (every third company in name order, fixed before any rule was chosen);
- each miss at 4 classed as the right filing and the wrong page, the right company and the wrong
  period (another of its filings), or another company only.

`--cost` times, per page, what indexing a document now adds (reading page and filing facts)
and chunking, over an index's stored chunks.

It also writes docugami's questions scored at page level (`--write-silver`): each question's
evidence becomes its `silver_pages` (pages holding the gold answer's numbers), for `localrag
eval` at page level.

Usage (from the repository root):
    LOCALRAG_DATA_DIR=/tmp/fb .venv/bin/python -m app.cli eval \\
        ../shared/eval/financebench/questions_dev.jsonl --docs ../shared/eval/financebench/pdfs \\
        -k 4 --out /tmp/fb/after.jsonl
    .venv/bin/python tests/bench/bench_filings.py before=/tmp/fb/before.jsonl \\
        after=/tmp/fb/after.jsonl
    .venv/bin/python tests/bench/bench_filings.py --write-silver /tmp/docugami_silver.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

EVAL = Path(__file__).resolve().parents[3] / "shared" / "eval" / "financebench"
K = 4


def companies(docs_file: Path) -> dict[str, str]:
    """File name -> company, from the set's docs.jsonl."""
    found = {}
    for line in docs_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            found[Path(row["source_file"]).name] = row["company"]
    return found


def held_out(company_of: dict[str, str]) -> set[str]:
    """Every third company in name order (the 3rd, 6th, ...): never looked at while tuning."""
    ordered = sorted(set(company_of.values()))
    return {name for i, name in enumerate(ordered) if i % 3 == 2}


def classify(record: dict, company_of: dict[str, str], k: int = K) -> str:
    """hit, or the kind of miss: wrong page (right filing), wrong period (right company), other."""
    gold = {(f, p) for f, p in record["gold"]}
    top = [(h["file"], h["page"]) for h in record["hits"][:k]]
    if any(key in gold for key in top):
        return "hit"
    gold_files = {f for f, _ in gold}
    if any(f in gold_files for f, _ in top):
        return "right filing, wrong page"
    gold_companies = {company_of.get(f) for f in gold_files}
    if any(company_of.get(f) in gold_companies for f, _ in top):
        return "right company, wrong period"
    return "other company"


def report(name: str, path: Path, company_of: dict[str, str], hidden: set[str]) -> dict:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
               if line.strip()]
    rows = []
    for record in records:
        company = company_of.get(record["gold"][0][0], "?")
        rows.append((company in hidden, classify(record, company_of)))
    out: dict = {"run": name, "questions": len(rows)}
    for label, keep in (("all", lambda h: True), ("tuned", lambda h: not h),
                        ("held_out", lambda h: h)):
        kinds = [kind for hidden_q, kind in rows if keep(hidden_q)]
        out[label] = {"questions": len(kinds),
                      f"hit@{K}": round(sum(k == "hit" for k in kinds) / max(len(kinds), 1), 3),
                      "misses": dict(Counter(k for k in kinds if k != "hit"))}
    return out


def write_silver(questions: Path, out: Path) -> int:
    """The questions that have silver pages, with those pages as their evidence."""
    written = 0
    with out.open("w", encoding="utf-8") as handle:
        for line in questions.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("silver_pages"):
                row["evidence"] = [{"source_file": p["source_file"], "page": p["page"]}
                                   for p in row["silver_pages"]]
                handle.write(json.dumps(row) + "\n")
                written += 1
    return written


def facts_cost(registry_path: Path, chunk_size: int = 600, overlap: int = 100) -> dict:
    """CPU time per page of what indexing a document now adds (reading its page and filing
    facts from its chunks) and of chunking its pages, over an index's stored chunks."""
    import sqlite3
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from ingest.chunking import chunk_pages
    from ingest.filings import page_texts, read_document
    from ingest.models import Chunk, Page

    db = sqlite3.connect(registry_path)
    names = {d: Path(p).name for d, p in db.execute("SELECT doc_id, path FROM paths")}
    by_doc: dict[str, list] = {}
    for doc_id, page, idx, start, end, body in db.execute(
            "SELECT doc_id, page, idx, start, end, body FROM chunks"):
        by_doc.setdefault(doc_id, []).append(Chunk(page, idx, start, end, body))
    pages = read_s = chunk_s = 0.0
    for doc_id, chunks in by_doc.items():
        texts = page_texts(chunks)
        pages += len(texts)
        started = time.process_time()
        read_document(chunks, names.get(doc_id, ""))
        read_s += time.process_time() - started
        started = time.process_time()
        chunk_pages([Page(n, t) for n, t in sorted(texts.items())], chunk_size, overlap)
        chunk_s += time.process_time() - started
    return {"index": str(registry_path), "pages": int(pages),
            "read_facts_ms_per_page": round(1000 * read_s / max(pages, 1), 3),
            "chunking_ms_per_page": round(1000 * chunk_s / max(pages, 1), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", help="name=results.jsonl of `localrag eval`")
    parser.add_argument("--docs", type=Path, default=EVAL / "docs.jsonl")
    parser.add_argument("--cost", type=Path, nargs="+", metavar="REGISTRY",
                        help="CPU time per page of reading the facts, over these registries")
    parser.add_argument("--write-silver", type=Path, metavar="OUT",
                        help="write docugami's questions with silver pages as evidence and stop")
    args = parser.parse_args()
    if args.cost:
        for registry in args.cost:
            print(json.dumps(facts_cost(registry)))
        return
    if args.write_silver:
        source = EVAL.parent / "docugami_sec10q" / "questions_dev.jsonl"
        print(f"{write_silver(source, args.write_silver)} questions -> {args.write_silver}")
        return
    company_of = companies(args.docs)
    hidden = held_out(company_of)
    print(f"held-out companies: {', '.join(sorted(hidden))}")
    for spec in args.runs:
        name, _, path = spec.partition("=")
        print(json.dumps(report(name, Path(path), company_of, hidden)))


if __name__ == "__main__":
    main()
