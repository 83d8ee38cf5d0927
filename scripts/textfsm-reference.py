#!/usr/bin/env python3
"""The reference TextFSM (pip textfsm) as the differential tests use it.

  textfsm-reference.py parse TEMPLATE INPUT   → JSON {"header": [...], "records": [[...], ...]} or {"error": "..."}
  textfsm-reference.py compile DIR            → JSON {template file: "ok" | error text} for every template in DIR
  textfsm-reference.py lookup DIR QUERIES     → JSON [template names or null] for a JSON list of [platform, command]
  textfsm-reference.py bench MANIFEST REPEAT OUT
                                              → parses every case of a textfsm-corpus.py manifest REPEAT times, each
                                                template compiled once; writes {name: records | {"error"}} to OUT and
                                                prints {"lines", "cpu_seconds"} (process CPU time of the parsing)
  textfsm-reference.py regex CASES            → JSON [null | "error" | [[start, end] | null per group]] for a JSON
                                                file of [pattern, subject] pairs (Python's re.match)
"""
import json
import os
import sys

import textfsm


def parse(template_path, input_path):
    try:
        with open(template_path) as t:
            fsm = textfsm.TextFSM(t)
        with open(input_path) as f:
            records = fsm.ParseText(f.read())
        return {"header": fsm.header, "records": records}
    except Exception as exc:  # the error text is compared only loosely
        return {"error": "%s: %s" % (type(exc).__name__, exc)}


def compile_all(directory):
    out = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".textfsm"):
            continue
        try:
            with open(os.path.join(directory, name)) as t:
                textfsm.TextFSM(t)
            out[name] = "ok"
        except Exception as exc:
            out[name] = "%s: %s" % (type(exc).__name__, exc)
    return out


def lookup(directory, queries):
    from textfsm import clitable

    table = clitable.CliTable("index", directory)
    out = []
    for platform, command in queries:
        row = table.index.GetRowMatch({"Platform": platform, "Command": command})
        out.append(table.index.index[row]["Template"] if row else None)
    return out


def bench(manifest_path, repeat, out_path):
    import time

    with open(manifest_path) as f:
        cases = json.load(f)
    compiled = {}
    for case in cases:
        if case["template"] not in compiled:
            with open(case["template"]) as t:
                compiled[case["template"]] = textfsm.TextFSM(t)
        with open(case["input"]) as f:
            case["text"] = f.read()
    # REF_TIMEOUT=S: a parse still running after S seconds is given up as {"timeout": S} (Python's re has no
    # backtracking cap, and a few templates are exponential on some inputs).
    limit = int(os.environ.get("REF_TIMEOUT", "0"))

    class Timeout(Exception):
        pass

    def expire(*_):
        raise Timeout()

    if limit:
        import signal

        signal.signal(signal.SIGALRM, expire)
        # A parent (the test runner) may block SIGALRM, and the mask is inherited.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM])
    results = {}
    lines = 0
    start = time.process_time()
    for _ in range(repeat):
        for case in cases:
            fsm = compiled[case["template"]]
            fsm.Reset()
            lines += len(case["text"].splitlines())
            try:
                if limit:
                    signal.alarm(limit)
                results[case["name"]] = fsm.ParseText(case["text"])
            except Timeout:
                results[case["name"]] = {"timeout": limit}
            except Exception as exc:
                results[case["name"]] = {"error": "%s: %s" % (type(exc).__name__, exc)}
            finally:
                if limit:
                    signal.alarm(0)
    elapsed = time.process_time() - start
    with open(out_path, "w") as f:
        json.dump(results, f)
    print(json.dumps({"lines": lines, "cpu_seconds": elapsed}))


def regex(cases_path):
    import re

    with open(cases_path) as f:
        cases = json.load(f)
    out = []
    for pattern, subject in cases:
        try:
            compiled = re.compile(pattern)
        except re.error:
            out.append("error")
            continue
        m = compiled.match(subject)
        if m is None:
            out.append(None)
        else:
            out.append([None if m.span(g) == (-1, -1) else list(m.span(g)) for g in range(1, compiled.groups + 1)])
    return out


if __name__ == "__main__":
    if sys.argv[1] == "bench":
        bench(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "regex":
        print(json.dumps(regex(sys.argv[2])))
    elif sys.argv[1] == "lookup":
        print(json.dumps(lookup(sys.argv[2], json.loads(sys.argv[3]))))
    elif sys.argv[1] == "parse":
        print(json.dumps(parse(sys.argv[2], sys.argv[3])))
    else:
        print(json.dumps(compile_all(sys.argv[2])))
