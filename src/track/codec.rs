//! The lavaplayer message format of `encoded` tracks (spec: lavalink-v4.md §8).
