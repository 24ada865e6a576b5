// lavalink-client (npm) against Basalt: its plugin helpers — lavaSearch, lyrics
// (get / getCurrent / subscribe / unsubscribe) and SponsorBlock (set / get / delete) —
// used unmodified. Started by tests/plugins_lavalink_client.rs, which runs the node with
// mocked upstreams; BASALT_HOST / BASALT_PORT / BASALT_PASSWORD / BASALT_GUILD given.
"use strict";
const { LavalinkManager } = require("lavalink-client");

const host = process.env.BASALT_HOST;
const port = Number(process.env.BASALT_PORT);
const password = process.env.BASALT_PASSWORD;
const guildId = process.env.BASALT_GUILD;
const userId = "170939974227541168";

let failures = 0;
function check(name, cond, detail) {
  console.log(`${cond ? "ok  " : "FAIL"} ${name}${cond ? "" : ` :: ${detail === undefined ? "" : JSON.stringify(detail)}`}`);
  if (!cond) failures++;
}

async function main() {
  const manager = new LavalinkManager({
    nodes: [{ host, port, authorization: password, id: "basalt", secure: false, retryAmount: 1, retryDelay: 500 }],
    sendToShard: () => {},
    client: { id: userId, username: "basalt-test" },
    autoSkip: false,
    playerOptions: { defaultSearchPlatform: "spsearch", onDisconnect: { autoReconnect: false, destroyPlayer: false } },
  });
  const connected = new Promise((resolve, reject) => {
    manager.nodeManager.on("connect", (node) => resolve(node));
    manager.nodeManager.on("error", (node, err) => reject(err));
    setTimeout(() => reject(new Error("no connect within 10 s")), 10000);
  });
  await manager.init({ id: userId, username: "basalt-test" });
  const node = await connected;
  for (let i = 0; i < 50 && !node.info; i++) await new Promise((r) => setTimeout(r, 100));
  const names = (node.info?.plugins || []).map((p) => p.name);
  check("info lists the plugins", ["lavasrc-plugin", "lavasearch-plugin", "lavalyrics-plugin", "sponsorblock-plugin"].every((n) => names.includes(n)), names);

  const res = await node.lavaSearch({ query: "sine song", source: "spsearch", types: ["track", "album"] }, { id: "u" });
  check("lavaSearch tracks", res.tracks.length === 2 && res.tracks[0].info.title === "Sine Song", res.tracks.map((t) => t.info.title));
  check("lavaSearch albums", res.albums.length === 1 && res.albums[0].pluginInfo.type === "album" && res.albums[0].info.name === "Album \"One\"", res.albums);
  check("lavaSearch track pluginInfo", res.tracks[0].pluginInfo.albumUrl === "https://open.spotify.com/album/alb1", res.tracks[0].pluginInfo);

  // lyrics.get sends the encoded track unescaped (its `+` arrives as a space).
  const lyrics = await node.lyrics.get(res.tracks[0]);
  check("lyrics.get", lyrics && lyrics.provider === "LRCLIB" && lyrics.lines.length === 4, lyrics);

  // A player on the node (volume only: no voice needed for these routes).
  manager.createPlayer({ guildId, voiceChannelId: "1", textChannelId: "2", selfDeaf: true });
  await node.updatePlayer({ guildId, playerOptions: { volume: 50 } });
  let err = null;
  try {
    await node.lyrics.getCurrent(guildId);
  } catch (e) {
    err = e;
  }
  check("lyrics.getCurrent without a track → 404", err !== null, String(err));
  await node.lyrics.subscribe(guildId);
  check("lyrics.subscribe", true);
  await node.lyrics.unsubscribe(guildId);
  check("lyrics.unsubscribe", true);

  const player = manager.getPlayer(guildId);
  await player.setSponsorBlock(["sponsor", "selfpromo"]);
  const cats = await player.getSponsorBlock();
  check("sponsorblock set/get", JSON.stringify(cats) === JSON.stringify(["sponsor", "selfpromo"]), cats);
  await player.deleteSponsorBlock();
  let gone = null;
  try {
    await player.getSponsorBlock();
  } catch (e) {
    gone = e;
  }
  check("sponsorblock delete → get 404", gone !== null, String(gone));

  await node.destroyPlayer(guildId).catch(() => {});
  node.destroy(undefined, true);
}

main()
  .catch((e) => {
    console.log(`FAIL ${e && e.stack ? e.stack : e}`);
    failures++;
  })
  .finally(() => process.exit(failures ? 1 : 0));
