use basalt_dsp::{FilterError, Filters};
use serde_json::{json, Value};

fn parse(v: Value) -> Result<Filters, FilterError> {
    Filters::from_json(&v)
}

#[test]
fn empty_object_is_no_filters() {
    let f = parse(json!({})).unwrap();
    assert_eq!(f, Filters::default());
    assert!(!f.is_active());
    assert_eq!(f.to_json().to_string(), "{}");
}

#[test]
fn defaults_of_missing_keys_and_output_order() {
    let f = parse(json!({
        "lowPass": {}, "channelMix": {}, "rotation": {}, "distortion": {},
        "vibrato": {}, "tremolo": {}, "timescale": {}, "karaoke": {},
        "equalizer": [{"band": 3}], "volume": 1
    }))
    .unwrap();
    let out = f.to_json().to_string();
    assert_eq!(
        out,
        concat!(
            r#"{"volume":1.0,"equalizer":[{"band":3,"gain":1.0}],"#,
            r#""karaoke":{"level":1.0,"monoLevel":1.0,"filterBand":220.0,"filterWidth":100.0},"#,
            r#""timescale":{"speed":1.0,"pitch":1.0,"rate":1.0},"#,
            r#""tremolo":{"frequency":2.0,"depth":0.5},"#,
            r#""vibrato":{"frequency":2.0,"depth":0.5},"#,
            r#""distortion":{"sinOffset":0.0,"sinScale":1.0,"cosOffset":0.0,"cosScale":1.0,"tanOffset":0.0,"tanScale":1.0,"offset":0.0,"scale":1.0},"#,
            r#""rotation":{"rotationHz":0.0},"#,
            r#""channelMix":{"leftToLeft":1.0,"leftToRight":0.0,"rightToLeft":0.0,"rightToRight":1.0},"#,
            r#""lowPass":{"smoothing":20.0}}"#
        )
    );
}

#[test]
fn floats_print_shortest() {
    let f = parse(json!({"volume": 0.3, "timescale": {"speed": 1.1}})).unwrap();
    assert_eq!(
        f.to_json().to_string(),
        r#"{"volume":0.3,"timescale":{"speed":1.1,"pitch":1.0,"rate":1.0}}"#
    );
}

#[test]
fn equalizer_echoed_as_received_later_duplicates_win() {
    let f = parse(json!({"equalizer": [
        {"band": 0, "gain": 0.2}, {"band": 0, "gain": -0.1}, {"band": 14, "gain": 0}
    ]}))
    .unwrap();
    assert_eq!(
        f.to_json()["equalizer"],
        json!([{"band":0,"gain":0.2},{"band":0,"gain":-0.1},{"band":14,"gain":0.0}])
    );
    let g = basalt_dsp::equalizer_gains(f.equalizer.as_ref().unwrap());
    assert_eq!(g[0], -0.1);
    assert!(f.is_active());
}

#[test]
fn null_rules() {
    for key in ["volume", "equalizer"] {
        let e = parse(json!({ key: null })).unwrap_err();
        assert_eq!(e.field(), format!("filters.{key}"));
    }
    for key in [
        "karaoke",
        "timescale",
        "tremolo",
        "vibrato",
        "rotation",
        "distortion",
        "channelMix",
        "lowPass",
    ] {
        let f = parse(json!({ key: null })).unwrap();
        assert_eq!(f, Filters::default(), "{key}");
    }
    let e = parse(json!({"karaoke": {"level": null}})).unwrap_err();
    assert_eq!(e.field(), "filters.karaoke.level");
    let e = parse(json!({"equalizer": [{"band": 1, "gain": null}]})).unwrap_err();
    assert_eq!(e.field(), "filters.equalizer[0].gain");
}

#[test]
fn type_errors_name_the_field() {
    let cases = [
        (json!([]), "filters"),
        (json!({"volume": "1"}), "filters.volume"),
        (json!({"equalizer": {}}), "filters.equalizer"),
        (json!({"equalizer": [1]}), "filters.equalizer[0]"),
        (
            json!({"equalizer": [{"gain": 1}]}),
            "filters.equalizer[0].band",
        ),
        (
            json!({"equalizer": [{"band": 1.5}]}),
            "filters.equalizer[0].band",
        ),
        (json!({"tremolo": 3}), "filters.tremolo"),
        (json!({"tremolo": {"depth": true}}), "filters.tremolo.depth"),
        (
            json!({"rotation": {"rotationHz": "x"}}),
            "filters.rotation.rotationHz",
        ),
        (json!({"pluginFilters": null}), "filters.pluginFilters"),
        (json!({"pluginFilters": []}), "filters.pluginFilters"),
        (json!({"volume": 1e300}), "filters.volume"),
    ];
    for (v, field) in cases {
        let e = parse(v.clone()).unwrap_err();
        assert_eq!(e.field(), field, "{v}");
    }
}

#[test]
fn band_out_of_range_is_an_error() {
    for b in [-1, 15, 100] {
        let e = parse(json!({"equalizer": [{"band": b, "gain": 0.1}]})).unwrap_err();
        assert!(matches!(e, FilterError::BandOutOfRange { .. }), "{e}");
        assert_eq!(e.field(), "filters.equalizer[0].band");
    }
}

#[test]
fn timescale_must_be_positive() {
    for key in ["speed", "pitch", "rate"] {
        for v in [0.0, -1.0] {
            let e = parse(json!({"timescale": { key: v }})).unwrap_err();
            assert_eq!(e.field(), format!("filters.timescale.{key}"));
            assert!(e.to_string().contains("greater than 0"), "{e}");
        }
    }
}

#[test]
fn integers_accepted_as_floats_and_unknown_keys_ignored() {
    let f = parse(json!({"tremolo": {"frequency": 4, "depth": 1, "x": 1}, "foo": 3})).unwrap();
    assert_eq!(f.tremolo.unwrap().frequency, 4.0);
    assert_eq!(f.tremolo.unwrap().depth, 1.0);
}

#[test]
fn plugin_filters_echoed_only_when_non_empty() {
    let f = parse(json!({"pluginFilters": {}})).unwrap();
    assert_eq!(f.to_json(), json!({}));
    let f = parse(json!({"pluginFilters": {"echo": {"delay": 1}}})).unwrap();
    assert_eq!(
        f.to_json(),
        json!({"pluginFilters": {"echo": {"delay": 1}}})
    );
    assert!(!f.is_active(), "unknown plugin names are ignored");
}

#[test]
fn enable_rules() {
    let active = |v: Value| parse(v).unwrap().is_active();
    assert!(!active(json!({"volume": 1.0})));
    assert!(active(json!({"volume": 1.01})));
    assert!(!active(json!({"equalizer": [{"band": 2, "gain": 0}]})));
    assert!(active(json!({"equalizer": [{"band": 2}]})));
    assert!(active(json!({"karaoke": {}})));
    assert!(!active(json!({"timescale": {}})));
    assert!(active(json!({"timescale": {"rate": 1.1}})));
    assert!(!active(json!({"tremolo": {"depth": 0}})));
    assert!(active(json!({"tremolo": {}})));
    assert!(!active(json!({"vibrato": {"depth": 0}})));
    assert!(!active(json!({"distortion": {}})));
    assert!(active(json!({"distortion": {"scale": 0.5}})));
    assert!(!active(json!({"rotation": {}})));
    assert!(active(json!({"rotation": {"rotationHz": -0.2}})));
    assert!(!active(json!({"channelMix": {}})));
    assert!(active(json!({"channelMix": {"leftToRight": 0.5}})));
    assert!(!active(json!({"lowPass": {"smoothing": 1.0}})));
    assert!(active(json!({"lowPass": {}})));
}

#[test]
fn round_trip() {
    let v = json!({"volume": 0.8, "equalizer": [{"band": 1, "gain": 0.25}],
        "timescale": {"speed": 1.2, "pitch": 0.9, "rate": 1.0},
        "channelMix": {"leftToLeft": 0.5, "leftToRight": 0.5, "rightToLeft": 0.5, "rightToRight": 0.5}});
    let f = parse(v).unwrap();
    assert_eq!(parse(f.to_json()).unwrap(), f);
}
