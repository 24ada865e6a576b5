//! A lexical scan of YouTube's player script, just deep enough to prepare it for the
//! embedded engine: find the one wrapping function that holds everything, list the
//! one-argument-looking function bindings at its top level, and append code that exports
//! them (the signature and `n` functions are among them; the solver tells which by how they
//! behave, not by their names or text, which change with every player build).
//!
//! The scanner skips strings, template literals, comments and regular-expression literals
//! so braces inside them do not count. It never evaluates anything.

/// The script rewritten to export its top-level function bindings into
/// `globalThis.__basalt_fns`, and the names exported, in source order.
#[derive(Debug)]
pub struct Prepared {
    pub source: String,
    pub names: Vec<String>,
}

/// Largest script accepted (real player scripts are 2–3 MB).
pub const MAX_SCRIPT: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Open(u8),
    Close(u8),
    Ident,
    Punct(u8),
    Literal,
}

/// One significant token: its kind and byte range.
#[derive(Debug, Clone, Copy)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_ident(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

/// Keywords after which a `/` starts a regular expression.
const REGEX_AFTER: [&str; 9] = [
    "return",
    "typeof",
    "case",
    "do",
    "else",
    "in",
    "instanceof",
    "new",
    "void",
];

/// Splits `src` into significant tokens. Errors on an unterminated literal.
fn tokens(src: &[u8]) -> Result<Vec<Token>, String> {
    let mut out: Vec<Token> = Vec::new();
    // Template literal nesting: brace depth at which each `${` was opened.
    let mut templates: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'/' if src.get(i + 1) == Some(&b'/') => {
                while i < src.len() && src[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if src.get(i + 1) == Some(&b'*') => {
                let end = find(src, i + 2, b"*/").ok_or("unterminated comment")?;
                i = end + 2;
            }
            b'/' if regex_allowed(src, &out) => {
                let start = i;
                i = skip_regex(src, i)?;
                out.push(Token {
                    tok: Tok::Literal,
                    start,
                    end: i,
                });
            }
            b'"' | b'\'' => {
                let start = i;
                i = skip_string(src, i, b)?;
                out.push(Token {
                    tok: Tok::Literal,
                    start,
                    end: i,
                });
            }
            b'`' => {
                let start = i;
                i = skip_template(src, i + 1, &mut templates, depth)?;
                out.push(Token {
                    tok: Tok::Literal,
                    start,
                    end: i,
                });
            }
            b'}' if templates.last() == Some(&depth) => {
                // End of a `${…}` substitution: the template goes on.
                templates.pop();
                let start = i;
                i = skip_template(src, i + 1, &mut templates, depth)?;
                out.push(Token {
                    tok: Tok::Literal,
                    start,
                    end: i,
                });
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                out.push(Token {
                    tok: Tok::Open(b),
                    start: i,
                    end: i + 1,
                });
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                out.push(Token {
                    tok: Tok::Close(b),
                    start: i,
                    end: i + 1,
                });
                i += 1;
            }
            _ if is_ident_start(b) => {
                let start = i;
                while i < src.len() && is_ident(src[i]) {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Ident,
                    start,
                    end: i,
                });
            }
            _ if b.is_ascii_digit()
                || (b == b'.' && src.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                let start = i;
                while i < src.len() && (is_ident(src[i]) || src[i] == b'.') {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Literal,
                    start,
                    end: i,
                });
            }
            _ => {
                out.push(Token {
                    tok: Tok::Punct(b),
                    start: i,
                    end: i + 1,
                });
                i += 1;
            }
        }
    }
    if !templates.is_empty() {
        return Err("unterminated template literal".into());
    }
    Ok(out)
}

fn find(src: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    src.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

/// Whether a `/` here starts a regular expression (by the previous token).
fn regex_allowed(src: &[u8], out: &[Token]) -> bool {
    match out.last() {
        None => true,
        Some(t) => match t.tok {
            Tok::Literal | Tok::Close(b')') | Tok::Close(b']') | Tok::Close(b'}') => false,
            Tok::Ident => {
                let word = std::str::from_utf8(&src[t.start..t.end]).unwrap_or("");
                REGEX_AFTER.contains(&word)
            }
            _ => true,
        },
    }
}

fn skip_string(src: &[u8], mut i: usize, quote: u8) -> Result<usize, String> {
    i += 1;
    while i < src.len() {
        match src[i] {
            b'\\' => i += 2,
            b'\n' => return Err("newline in string literal".into()),
            b if b == quote => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err("unterminated string literal".into())
}

/// From inside a template literal to just after its closing backtick, or to just after a
/// `${` (recorded in `templates` at the current brace depth).
fn skip_template(
    src: &[u8],
    mut i: usize,
    templates: &mut Vec<usize>,
    depth: usize,
) -> Result<usize, String> {
    while i < src.len() {
        match src[i] {
            b'\\' => i += 2,
            b'`' => return Ok(i + 1),
            b'$' if src.get(i + 1) == Some(&b'{') => {
                templates.push(depth);
                return Ok(i + 2);
            }
            _ => i += 1,
        }
    }
    Err("unterminated template literal".into())
}

fn skip_regex(src: &[u8], mut i: usize) -> Result<usize, String> {
    i += 1;
    let mut class = false;
    while i < src.len() {
        match src[i] {
            b'\\' => i += 2,
            b'\n' => return Err("newline in regular expression".into()),
            b'[' => {
                class = true;
                i += 1;
            }
            b']' => {
                class = false;
                i += 1;
            }
            b'/' if !class => {
                i += 1;
                while i < src.len() && is_ident(src[i]) {
                    i += 1;
                }
                return Ok(i);
            }
            _ => i += 1,
        }
    }
    Err("unterminated regular expression".into())
}

/// Rewrites the player script so its top-level function bindings can be reached.
pub fn prepare(script: &str) -> Result<Prepared, String> {
    if script.len() > MAX_SCRIPT {
        return Err(format!("player script larger than {MAX_SCRIPT} bytes"));
    }
    let src = script.as_bytes();
    let toks = tokens(src)?;
    // Match brackets.
    let mut matching = vec![usize::MAX; toks.len()];
    let mut stack = Vec::new();
    for (k, t) in toks.iter().enumerate() {
        match t.tok {
            Tok::Open(_) => stack.push(k),
            Tok::Close(_) => {
                if let Some(open) = stack.pop() {
                    matching[open] = k;
                    matching[k] = open;
                }
            }
            _ => {}
        }
    }
    // The wrapping function: the `{` with the widest body, preceded by `)` (parameters).
    let (body_open, body_close) = toks
        .iter()
        .enumerate()
        .filter(|(k, t)| {
            t.tok == Tok::Open(b'{')
                && matching[*k] != usize::MAX
                && *k > 0
                && toks[k - 1].tok == Tok::Close(b')')
        })
        .map(|(k, _)| (k, matching[k]))
        .max_by_key(|(o, c)| toks[*c].start - toks[*o].start)
        .ok_or("no function body in the player script")?;
    if (toks[body_close].start - toks[body_open].start) * 2 < src.len() {
        return Err("the player script has no wrapping function".into());
    }
    let text = |t: &Token| &script[t.start..t.end];
    // Top-level bindings: `name = function(` / `name = (…) =>` / `function name(` at
    // depth 1 inside the wrapper.
    let mut names: Vec<String> = Vec::new();
    let mut k = body_open + 1;
    while k < body_close {
        let t = toks[k];
        if let Tok::Open(_) = t.tok {
            // Look at what opens here, then skip over it.
            k = matching[k].max(k) + 1;
            continue;
        }
        if t.tok == Tok::Ident {
            let prev_dot = k > 0 && toks[k - 1].tok == Tok::Punct(b'.');
            let next = toks.get(k + 1).map(|n| n.tok);
            let next2 = toks.get(k + 2);
            let word = text(&t);
            if word == "function" && next == Some(Tok::Ident) {
                names.push(text(&toks[k + 1]).to_string());
            } else if !prev_dot
                && next == Some(Tok::Punct(b'='))
                && toks.get(k + 2).map(|n| n.tok) != Some(Tok::Punct(b'='))
                && next2.is_some_and(|n| {
                    (n.tok == Tok::Ident && text(n) == "function")
                        || (n.tok == Tok::Open(b'(') && is_arrow(&toks, &matching, k + 2))
                })
            {
                names.push(word.to_string());
            }
        }
        k += 1;
    }
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err("no function bindings in the player script".into());
    }
    // Export them before the wrapper ends, even if a statement of its body throws.
    let open_at = toks[body_open].end;
    let close_at = toks[body_close].start;
    let mut export = String::from("}finally{globalThis.__basalt_fns={};");
    for n in &names {
        export.push_str(&format!(
            "try{{if(typeof {n}===\"function\"&&{n}.length===1)globalThis.__basalt_fns[\"{n}\"]={n}}}catch(e){{}}"
        ));
    }
    export.push('}');
    let mut source = String::with_capacity(script.len() + export.len() + 16);
    source.push_str(&script[..open_at]);
    source.push_str("try{");
    source.push_str(&script[open_at..close_at]);
    source.push_str(&export);
    source.push_str(&script[close_at..]);
    Ok(Prepared { source, names })
}

/// Whether the `(` at `k` opens an arrow function's parameters.
fn is_arrow(toks: &[Token], matching: &[usize], k: usize) -> bool {
    let close = matching[k];
    close != usize::MAX
        && toks.get(close + 1).map(|t| t.tok) == Some(Tok::Punct(b'='))
        && toks.get(close + 2).map(|t| t.tok) == Some(Tok::Punct(b'>'))
}

/// The signature timestamp: the digits after `signatureTimestamp:` or `sts:`.
pub fn signature_timestamp(script: &str) -> Option<u32> {
    for key in ["signatureTimestamp:", "sts:"] {
        let mut from = 0;
        while let Some(p) = script[from..].find(key) {
            let rest = &script[from + p + key.len()..];
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse() {
                return Some(n);
            }
            from += p + key.len();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_bindings_and_skips_literals() {
        let s = r#"var _yt_player={};(function(g){var a="{ not a brace",b=/[}{]/g,c=`x${"}"}y`;
            var sig=function(x){return x.split("").reverse().join("")},other=2;
            function nfun(z){return z+"}"}
            g.prop=function(q){return q};
            var arrow=(p)=>p;
            if(a==b){var inner=function(y){return y}}
            // } comment
            /* { */
        })(_yt_player);"#;
        let p = prepare(s).unwrap();
        assert_eq!(p.names, ["arrow", "nfun", "sig"]);
        assert!(p.source.contains("globalThis.__basalt_fns"));
        assert!(p.source.starts_with("var _yt_player={};(function(g){try{"));
    }

    #[test]
    fn refuses_scripts_without_a_wrapper() {
        assert!(prepare("var a=function(x){return x};").is_err());
        assert!(prepare("var a=\"unterminated").is_err());
        assert!(prepare("").is_err());
    }

    #[test]
    fn truncated_and_mangled_scripts_never_panic() {
        let s = include_str!("../../../tests/fixtures/youtube/player_test.js");
        for cut in (0..s.len()).step_by(7) {
            if s.is_char_boundary(cut) {
                let _ = prepare(&s[..cut]);
                let _ = prepare(&s[cut..]);
                let _ = signature_timestamp(&s[cut..]);
            }
        }
        let _ = prepare("\\\"\\`${`${{}}`");
        let _ = prepare("(function(){/é/é;'\\é'})()");
    }

    #[test]
    fn reads_the_signature_timestamp() {
        assert_eq!(
            signature_timestamp("x={signatureTimestamp:20345,y:1}"),
            Some(20345)
        );
        assert_eq!(signature_timestamp("a;sts: 19999;"), Some(19999));
        assert_eq!(signature_timestamp("sts:abc"), None);
    }
}
