;; Example Basalt WASM filter (ABI 1, see README "WASM filter plugins"): a gain.
;;
;;   pluginFilters: {"gain": {"gain": 0.5}}   → every sample × 0.5
;;
;; Put this file (or its compiled gain.wasm) in `[plugins] wasm_dir` and call
;; `POST /v4/wasm/filters/gain` (or `POST /v4/wasm/rescan`).
;;
;; Memory (one 64 KiB page, never grown):
;;   1024  .. 8704    audio block: 960 stereo frames, interleaved f32
;;   8704  .. 25088   config area: JSON in, parameter bytes out (16 KiB)
;;   25088 .. 33280   per-player state: 1024 × (in use: i32, gain: f32)
(module
  (memory (export "memory") 1 1)

  (global $AUDIO i32 (i32.const 1024))
  (global $CONFIG i32 (i32.const 8704))
  (global $CONFIG_CAP i32 (i32.const 16384))
  (global $STATE i32 (i32.const 25088))
  (global $HANDLES i32 (i32.const 1024))

  (func (export "basalt_abi") (result i32) (i32.const 1))
  (func (export "basalt_buffer") (result i32) (global.get $AUDIO))

  (func (export "basalt_config") (param $len i32) (result i32)
    (if (result i32) (i32.le_u (local.get $len) (global.get $CONFIG_CAP))
      (then (global.get $CONFIG))
      (else (i32.const -1))))

  ;; The first number in the JSON text (e.g. {"gain": 0.5}) becomes the gain, written
  ;; back as 4 parameter bytes. No number, or one outside 0–10: invalid (-1).
  (func (export "basalt_configure") (param $len i32) (result i32)
    (local $p i32) (local $end i32) (local $c i32) (local $neg i32)
    (local $v f32) (local $scale f32) (local $frac i32) (local $digits i32)
    (local.set $p (global.get $CONFIG))
    (local.set $end (i32.add (global.get $CONFIG) (local.get $len)))
    ;; Skip to the first '-', '.' or digit.
    (block $found
      (loop $scan
        (br_if $found (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $found (i32.eq (local.get $c) (i32.const 45)))
        (br_if $found (i32.eq (local.get $c) (i32.const 46)))
        (br_if $found (i32.lt_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 10)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $scan)))
    (if (i32.lt_u (local.get $p) (local.get $end))
      (then
        (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 45))
          (then
            (local.set $neg (i32.const 1))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))))))
    (local.set $scale (f32.const 1))
    (block $done
      (loop $digit
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.and (i32.eq (local.get $c) (i32.const 46)) (i32.eqz (local.get $frac)))
          (then
            (local.set $frac (i32.const 1))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $digit)))
        (br_if $done (i32.ge_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 10)))
        (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
        (if (local.get $frac)
          (then
            (local.set $scale (f32.mul (local.get $scale) (f32.const 0.1)))
            (local.set $v (f32.add (local.get $v)
              (f32.mul (local.get $scale)
                (f32.convert_i32_u (i32.sub (local.get $c) (i32.const 48)))))))
          (else
            (local.set $v (f32.add (f32.mul (local.get $v) (f32.const 10))
              (f32.convert_i32_u (i32.sub (local.get $c) (i32.const 48)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digit)))
    (if (local.get $neg) (then (local.set $v (f32.neg (local.get $v)))))
    (if (i32.or (i32.eqz (local.get $digits))
          (i32.or (f32.lt (local.get $v) (f32.const 0)) (f32.gt (local.get $v) (f32.const 10))))
      (then (return (i32.const -1))))
    (f32.store (global.get $CONFIG) (local.get $v))
    (i32.const 4))

  (func $slot (param $h i32) (result i32)
    (i32.add (global.get $STATE) (i32.shl (local.get $h) (i32.const 3))))

  (func (export "basalt_create") (result i32)
    (local $h i32)
    (block $full
      (loop $find
        (br_if $full (i32.ge_u (local.get $h) (global.get $HANDLES)))
        (if (i32.eqz (i32.load (call $slot (local.get $h))))
          (then
            (i32.store (call $slot (local.get $h)) (i32.const 1))
            (f32.store offset=4 (call $slot (local.get $h)) (f32.const 1))
            (return (local.get $h))))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $find)))
    (i32.const -1))

  (func $valid (param $h i32) (result i32)
    (if (result i32) (i32.ge_u (local.get $h) (global.get $HANDLES))
      (then (i32.const 0))
      (else (i32.load (call $slot (local.get $h))))))

  (func (export "basalt_set") (param $h i32) (param $len i32) (result i32)
    (if (i32.eqz (call $valid (local.get $h))) (then (return (i32.const 1))))
    (if (i32.ne (local.get $len) (i32.const 4)) (then (return (i32.const 2))))
    (f32.store offset=4 (call $slot (local.get $h)) (f32.load (global.get $CONFIG)))
    (i32.const 0))

  (func (export "basalt_process") (param $h i32) (result i32)
    (local $g f32) (local $p i32) (local $end i32)
    (if (i32.eqz (call $valid (local.get $h))) (then (return (i32.const 1))))
    (local.set $g (f32.load offset=4 (call $slot (local.get $h))))
    (local.set $p (global.get $AUDIO))
    (local.set $end (i32.add (global.get $AUDIO) (i32.const 7680)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (f32.store (local.get $p) (f32.mul (f32.load (local.get $p)) (local.get $g)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $each)))
    (i32.const 0))

  (func (export "basalt_reset") (param $h i32))

  (func (export "basalt_destroy") (param $h i32)
    (if (call $valid (local.get $h))
      (then (i32.store (call $slot (local.get $h)) (i32.const 0)))))
)
