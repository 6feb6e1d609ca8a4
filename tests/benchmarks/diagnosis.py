"""For each missed goal, what the measurements of the same run say about why.

Sentences are assembled from this run's figures only (nothing is typed in); a goal with
no measurement that explains it gets a pointer to the section that has the data.
"""

from __future__ import annotations

LISTING_GOALS = {"Django view": "django", "raw SQL": "raw", "seed's design": "before", "peer": "peer"}


def missed_goals(results: dict, listing: dict | None, tracking: dict | None) -> list[str]:
    _profile_said[0] = False
    lines = []
    for goal in results["summary"]["goals"]:
        if goal.get("met") is not False:
            continue
        text = goal["goal"]
        variant = next((v for k, v in LISTING_GOALS.items() if k in text), None)
        if variant and listing:
            lines.append(_listing(results, listing, goal, variant))
        elif text.startswith("trackProductView") and tracking:
            lines.append(_tracking(results, tracking, goal))
        elif text.startswith("Drain") and results.get("drain"):
            said = any(line.startswith("- **Drain") for line in lines)
            lines.append(
                f"- **{text}**: {goal['summary']}. Same measurements as above."
                if said
                else _drain(results["drain"], goal)
            )
        else:
            lines.append(f"- **{text}**: {goal['summary']}; see its section below.")
    return lines


def _cell(listing: dict, variant: str, where: str) -> dict | None:
    first, concurrency = (int(part.split("=")[1]) for part in where.split(", "))
    return listing["table"].get(f"{variant}|{first}|{concurrency}")


def _listing(results: dict, listing: dict, goal: dict, variant: str) -> str:
    ours, theirs = _cell(listing, "graphql", goal["where"]), _cell(listing, variant, goal["where"])
    line = f"- **{goal['goal']}**: {goal['summary']}."
    if ours and theirs:
        line += f" At {goal['where']}: GraphQL p50 {ours['p50_ms']:.1f} ms, this variant {theirs['p50_ms']:.1f} ms."
    queries = results.get("queries", {})
    if variant == "before" and queries and ours and theirs:
        line += _before(results, listing, goal, queries)
    profile = results.get("profile")
    if profile and not _profile_said[0]:
        line += " " + _profile_sentence(profile)
        _profile_said[0] = True
    elif profile:
        line += " The profile above applies here too."
    return line


_profile_said = [False]  # the profile sentence is long: say it once per report


def _before(results: dict, listing: dict, goal: dict, queries: dict) -> str:
    first = int(goal["where"].split(",")[0].split("=")[1])
    django = _cell(listing, "django", goal["where"])
    before = _cell(listing, "before", goal["where"])
    raw = _cell(listing, "raw", goal["where"])
    line = (
        f" The seed's design runs {queries['before'][first]} SQL statements per request where the Django view runs "
        f"{queries['django'][first]}"
    )
    if django:
        line += f"; they add {before['p50_ms'] - django['p50_ms']:.1f} ms to the Django view's p50"
    where = (
        "a database in the server's own process"
        if results["database"].get("vendor", "sqlite") == "sqlite"
        else "a server on the same machine, one local round trip per statement"
    )
    line += f" on {results['database']['server_version']}, {where}."
    target = goal.get("target", 10)
    needed = before["p50_ms"] / target
    if raw and needed < raw["p50_ms"]:
        line += (
            f" {target:g}x would need a listing p50 of {needed:.1f} ms, below even the raw SQL floor's "
            f"{raw['p50_ms']:.1f} ms "
            "at the same size and concurrency: no listing design reaches it on this machine and database; a "
            "database across a network, where each of those statements costs a round trip, widens the gap."
        )
    return line


def _profile_sentence(profile: dict) -> str:
    ph = profile["phases"]
    shares = {p["package"]: p["share"] for p in profile["profile"]["packages"]}
    idle = next((s for k, s in shares.items() if k.startswith("event loop idle")), 0.0)
    framework = sum(shares.get(k, 0.0) for k in ("graphql-core", "strawberry", "asyncio"))
    if framework > idle and ph["sql_ms"] < ph["execute_ms"] / 2:
        verdict = (
            "per-field resolution and completion (a coroutine or awaitable per field per item), not SQL, is most of it."
        )
    else:
        verdict = "waiting on the database threads weighs as much as the per-field framework work."
    return (
        f"The in-process profile of first: {profile['first']}: request {ph['request_ms']:.1f} ms, of which execute "
        f"{ph['execute_ms']:.1f} ms, validate {ph['validate_ms']:.1f} ms, parse {ph['parse_ms']:.2f} ms, "
        f"serialisation {ph['serialise_ms']:.2f} ms, Django's handler and middleware "
        f"{ph['django_handler_and_middleware_ms']:.1f} ms; the {ph['sql_statements']:.0f} SQL statements take "
        f"{ph['sql_ms']:.1f} ms in database threads. On the event-loop thread graphql-core, strawberry and asyncio "
        f"take {framework * 100:.0f}% and the loop waits idle {idle * 100:.0f}%: {verdict}"
    )


def _tracking(results: dict, tracking: dict, goal: dict) -> str:
    t = results["tracking"]
    concurrency = int(goal["where"].split("=")[1])
    ours = tracking["table"].get(f"track_view|{concurrency}")
    base = tracking["table"].get(f"typename|{concurrency}")
    line = f"- **{goal['goal']}**: {goal['summary']}."
    if ours and base:
        line += (
            f" At c={concurrency} the mutation's p50 is {ours['p50_ms'] - base['p50_ms']:.2f} ms above "
            f"`{{ __typename }}`'s. It runs {t['queries']['track_view']} SQL statement(s) per request (the "
            f"active-product check, an ORM call that hops to a database thread) where `{{ __typename }}` runs "
            f"{t['queries']['typename']}; queueing the event itself is an in-memory append."
        )
    return line


def _drain(drain: dict, goal: dict) -> str:
    line = f"- **{goal['goal']}**: {goal['summary']}."
    profile = drain.get("apply_profile")
    if not profile:
        return line
    per_second = profile["batch"] / (profile["ms_per_batch"] / 1000)
    parts = ", ".join(f"{p['part']} {p['share'] * 100:.0f}%" for p in profile["parts"][:4])
    through = drain["coalesced"]["events_per_second_median"]
    line += (
        f" One batch of {profile['batch']} applied alone, back to back, takes {profile['ms_per_batch']:.1f} ms "
        f"({parts}): {per_second:,.0f} events/s. Through the executor the same batches reach {through:,.0f} "
        f"events/s with {drain['coalesced']['workers']} workers"
    )
    single = drain.get("coalesced_one_worker")
    if single:
        line += f" and {single['events_per_second_median']:,.0f} with one"
    if through < per_second:
        line += (
            f": {(1 - through / per_second) * 100:.0f}% of the batch-alone rate is lost between the queue and the "
            "database (the executor's threads, lock and hand-offs; SQLite takes one writer at a time)."
        )
    else:
        line += "."
    if profile["cpu_share"] > 0.5:
        line += (
            f" {profile['cpu_share'] * 100:.0f}% of a batch's wall time is CPU time of the process (SQLite runs "
            "inside it): the work is computing, not waiting for the disk."
            if drain["vendor"] == "sqlite"
            else f" {profile['cpu_share'] * 100:.0f}% of a batch's wall time is CPU time of this process."
        )
    naive = drain["naive"]["events_per_second_median"]
    line += f" The naive executor manages {naive:,.0f} events/s on the same batches and transactions."
    return line
