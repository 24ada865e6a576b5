"""Drives a running Basalt node with Lavalink.py (PyPI `lavalink`), a real client library.

Starts nothing itself: the node is given by BASALT_HOST, BASALT_PORT, BASALT_PASSWORD.
BASALT_FIXTURE, when set, is an audio file path the node can load with its local
source (sources.local = true), used to play a real track.

It connects the WebSocket (ready op), reads /version, /v4/info and /v4/stats, waits for
the stats op, decodes tracks one by one and in bulk, cross-checks the node's track
codec against Lavalink.py's own, loads a track, then creates, updates (volume, pause,
filters, track, seek) and destroys a player, checking the node's view after each step.
Prints one line per check and a closing "N passed, N failed" line; exits non-zero on
any failure.
"""

import asyncio
import json
import os
import sys
import traceback

import lavalink
from lavalink import utils
from lavalink.errors import RequestError
from lavalink.filters import Equalizer, Timescale

HOST = os.environ.get("BASALT_HOST", "127.0.0.1")
PORT = int(os.environ.get("BASALT_PORT", "2333"))
PASSWORD = os.environ.get("BASALT_PASSWORD", "youshallnotpass")
FIXTURE = os.environ.get("BASALT_FIXTURE", "")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
USER_ID = 170939974227591168
GUILD_ID = 817327181659111454

results = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    if cond:
        results["passed"] += 1
        print(f"ok   {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name} {detail}")


async def step(name, coro):
    """Runs one async check; an exception is a failure, not a crash."""
    try:
        await coro
    except Exception:  # noqa: BLE001 - report and go on with the other checks
        results["failed"] += 1
        print(f"FAIL {name}: exception\n{traceback.format_exc()}")


async def wait_for(pred, timeout=10.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if pred():
            return True
        await asyncio.sleep(0.05)
    return pred()


async def test_info(node):
    version = await node.get_version()
    check("GET /version is text", isinstance(version, str) and len(version) > 0, repr(version))
    info = await node.get_info()
    check("info.version.semver", "semver" in info.get("version", {}), json.dumps(info)[:200])
    check("info.sourceManagers", isinstance(info.get("sourceManagers"), list))
    check("info.filters lists timescale", "timescale" in info.get("filters", []), info.get("filters"))
    check("info.plugins is a list", isinstance(info.get("plugins"), list))
    stats = await node.get_stats()
    check("REST stats has no frameStats", "frameStats" not in stats, stats)
    check("REST stats fields", all(k in stats for k in ("players", "playingPlayers", "uptime", "memory", "cpu")))
    check("REST stats memory", stats["memory"]["allocated"] > 0, stats["memory"])
    check("REST stats cpu cores", stats["cpu"]["cores"] >= 1, stats["cpu"])


async def test_metrics():
    """The Prometheus endpoint (enabled by the harness) answers without auth."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{HOST}:{PORT}/metrics") as res:
            text = await res.text()
            check("GET /metrics without auth is 200", res.status == 200, res.status)
            check("metrics content type is text 0.0.4", "version=0.0.4" in res.headers.get("Content-Type", ""),
                  res.headers.get("Content-Type"))
            check("metrics has lavalink_players_total", "\nlavalink_players_total " in "\n" + text, text[:300])
        async with http.get(f"http://{HOST}:{PORT}/metrics?name[]=lavalink_cpu_cores") as res:
            text = await res.text()
            samples = [line for line in text.splitlines() if line and not line.startswith("#")]
            check("metrics name[] filter", len(samples) == 1 and samples[0].startswith("lavalink_cpu_cores "), text)


async def test_ws_stats(node):
    ok = await wait_for(lambda: not node.stats.is_fake, 10)
    check("stats op received over the WebSocket", ok)
    if ok:
        check("stats op uptime > 0", node.stats.uptime > 0, node.stats.uptime)
        check("stats op cpu cores", node.stats.cpu_cores >= 1)


async def test_decode(client, node):
    with open(os.path.join(DATA, "tracks.json"), encoding="utf-8") as f:
        vectors = json.load(f)
    sources = (await node.get_info())["sourceManagers"]
    ours = [v for v in vectors if v["info"]["sourceName"] in sources]
    check("some vectors are of a registered source", len(ours) > 0, sources)
    for v in vectors:
        enc, info = v["encoded"], v["info"]
        name = f"{info['sourceName']} {info['identifier'][:40]}"
        # Every blob whose layout Basalt knows decodes, its source registered or not
        # (issue 9; Lavalink answers 500 for a source it does not have).
        t = await client.decode_track(enc)
        got = (t.title, t.author, t.identifier, t.duration, t.is_stream, t.uri, t.source_name, t.artwork_url, t.isrc)
        want = (info["title"], info["author"], info["identifier"], info["length"], info["isStream"], info["uri"],
                info["sourceName"], info["artworkUrl"], info["isrc"])
        check(f"decodetrack {name}", got == want, t.raw)
        check(f"decodetrack {name} echoes the input", t.track == enc)
        if "expectedPluginInfo" in v:
            check(f"decodetrack {name} pluginInfo", t.plugin_info == v["expectedPluginInfo"], t.plugin_info)
    plain = [v["encoded"] for v in ours]
    many = await client.decode_tracks(plain)
    check("decodetracks (bulk) returns every track in order", [t.track for t in many] == plain)
    try:
        await node.decode_track("QAAAjQIAJVJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXA AAA")
        check("bad base64 is an error", False)
    except RequestError as e:
        check("bad base64 is an error", e.status in (400, 500), e.status)


async def test_load_and_player(client, node):
    encoded = None
    if FIXTURE:
        res = await client.get_tracks(FIXTURE)
        check("loadtracks local file → track", res.load_type == lavalink.LoadType.TRACK, res.load_type)
        if res.tracks:
            t = res.tracks[0]
            encoded = t.track
            theirs = utils.decode_track(encoded)
            check("Lavalink.py decodes Basalt's encoded track",
                  (theirs.title, theirs.identifier, theirs.source_name) == (t.title, t.identifier, t.source_name),
                  theirs.raw)
            check("local track carries probeInfo", "probeInfo" in (t.plugin_info or {}), t.plugin_info)
    res = await client.get_tracks("  ")
    check("loadtracks of nothing → empty or error", res.load_type in (lavalink.LoadType.EMPTY, lavalink.LoadType.ERROR),
          res.load_type)

    # Lavalink.py's encoder → Basalt's decoder.
    _, mine = utils.encode_track({"title": "Héllo 君", "author": "a\u0000b", "length": 1234,
                                  "identifier": "https://example.com/x.mp3", "isStream": False,
                                  "uri": "https://example.com/x.mp3", "artworkUrl": None, "isrc": None,
                                  "sourceName": "http", "position": 0},
                                 source_encoders={"http": lambda w, _t: w.write_utf("mp3")})
    t = await client.decode_track(mine)
    check("Basalt decodes Lavalink.py's v3 encoding (2- and 3-byte forms, raw NUL)",
          (t.title, t.author, t.duration, t.plugin_info) == ("Héllo 君", "a\u0000b", 1234, {"probeInfo": "mp3"}),
          t.raw)

    player = client.player_manager.create(GUILD_ID)
    await player.set_volume(50)
    raw = await node.get_player(GUILD_ID)
    check("PATCH volume creates the player", raw["volume"] == 50 and raw["guildId"] == str(GUILD_ID), raw)
    check("new player has no track", raw["track"] is None, raw)
    check("new player voice state is empty", raw["voice"]["token"] == "" and raw["state"]["connected"] is False,
          raw)
    await player.set_pause(True)
    raw = await node.get_player(GUILD_ID)
    check("PATCH paused", raw["paused"] is True, raw)
    await player.set_filters(Timescale(speed=1.25), Equalizer([0.2, -0.1] + [0.0] * 13))
    raw = await node.get_player(GUILD_ID)
    flt = raw.get("filters", {})
    check("PATCH filters: timescale", abs(flt.get("timescale", {}).get("speed", 0) - 1.25) < 1e-9, flt)
    eq = {b["band"]: b["gain"] for b in flt.get("equalizer", [])}
    check("PATCH filters: equalizer", abs(eq.get(0, 0) - 0.2) < 1e-9 and abs(eq.get(1, 0) + 0.1) < 1e-9, flt)
    await player.clear_filters()
    raw = await node.get_player(GUILD_ID)
    check("PATCH filters {} clears them", raw.get("filters", {}) == {}, raw.get("filters"))

    if encoded:
        await node.update_player(GUILD_ID, encoded_track=encoded, paused=True, position=250,
                                 user_data={"requester": 42})
        raw = await node.get_player(GUILD_ID)
        tr = raw["track"] or {}
        check("PATCH track: the player holds it", tr.get("info", {}).get("identifier") == FIXTURE, raw)
        check("PATCH track: userData kept", tr.get("userData") == {"requester": 42}, tr.get("userData"))
        check("PATCH track: re-encoded as v3", utils.decode_track(tr.get("encoded", "")).identifier == FIXTURE)
        await node.update_player(GUILD_ID, encoded_track=None)
        raw = await node.get_player(GUILD_ID)
        check("PATCH encoded null stops", raw["track"] is None, raw)

    players = await node.get_players()
    check("GET players lists it", any(p["guildId"] == str(GUILD_ID) for p in players), players)
    await client.player_manager.destroy(GUILD_ID)
    players = await node.get_players()
    check("DELETE destroys it", not any(p["guildId"] == str(GUILD_ID) for p in players), players)
    try:
        await node.get_player(GUILD_ID)
        check("GET destroyed player is 404", False)
    except RequestError as e:
        check("GET destroyed player is 404", e.status == 404, e.status)


async def main():
    client = lavalink.Client(USER_ID)
    ready = asyncio.Event()

    async def on_event(event):
        if isinstance(event, lavalink.NodeReadyEvent):
            ready.set()

    client.add_event_hook(on_event)
    node = client.add_node(HOST, PORT, PASSWORD, "eu", name="basalt")
    try:
        await asyncio.wait_for(ready.wait(), 15)
        check("WebSocket ready op (session id)", bool(node.session_id) and len(node.session_id) == 16, node.session_id)
    except asyncio.TimeoutError:
        check("WebSocket ready op (session id)", False, "timed out")
        await client.close()
        return
    await step("info", test_info(node))
    await step("ws stats", test_ws_stats(node))
    if os.environ.get("BASALT_METRICS") == "1":
        await step("metrics", test_metrics())
    await step("decode", test_decode(client, node))
    await step("player", test_load_and_player(client, node))
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] or not results["passed"] else 0)
