//! Paths as written in models.toml: `~` and `$VARS` expanded, relative to the file's folder.

use std::path::{Path, PathBuf};

/// Expands `~`, `$VAR` and `${VAR}` (`$$` is a literal `$`) and resolves the result against
/// `base` when it is relative. `var` looks variables up.
///
/// Returns the reason when a variable is unset or a `${` is not closed.
pub(crate) fn resolve(
    raw: &str,
    base: &Path,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, String> {
    let expanded = expand_vars(raw, var)?;
    let path = match expanded.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') || rest.starts_with('\\') => {
            let home = var("HOME")
                .or_else(|| var("USERPROFILE"))
                .ok_or_else(|| "`~` needs HOME, which is not set".to_owned())?;
            PathBuf::from(format!("{home}{rest}"))
        }
        _ => PathBuf::from(expanded),
    };
    Ok(if path.is_relative() {
        base.join(path)
    } else {
        path
    })
}

fn expand_vars(raw: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, next) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("`${{` without a closing `}}` in {raw:?}"))?;
            (&braced[..end], &braced[end + 1..])
        } else if let Some(next) = after.strip_prefix('$') {
            out.push('$');
            rest = next;
            continue;
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            return Err(format!(
                "a `$` not followed by a variable name in {raw:?} (write `$$` for a literal `$`)"
            ));
        }
        let value = var(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = next;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".into()),
            "MODELS" => Some("/data/models".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_resolves() {
        let base = Path::new("/etc/mc");
        let r = |s| resolve(s, base, &env);
        assert_eq!(r("models/flux"), Ok(PathBuf::from("/etc/mc/models/flux")));
        assert_eq!(r("/abs/flux"), Ok(PathBuf::from("/abs/flux")));
        assert_eq!(r("~/flux"), Ok(PathBuf::from("/home/me/flux")));
        assert_eq!(r("~"), Ok(PathBuf::from("/home/me")));
        assert_eq!(r("~other/x"), Ok(PathBuf::from("/etc/mc/~other/x")));
        assert_eq!(r("$MODELS/flux"), Ok(PathBuf::from("/data/models/flux")));
        assert_eq!(r("${MODELS}x/a"), Ok(PathBuf::from("/data/modelsx/a")));
        assert_eq!(r("a$$b"), Ok(PathBuf::from("/etc/mc/a$b")));
    }

    #[test]
    fn says_which_variable_is_missing() {
        let base = Path::new("/");
        let e = resolve("$NOPE/x", base, &env).unwrap_err();
        assert!(e.contains("NOPE"), "{e}");
        assert!(resolve("${MODELS", base, &env).is_err());
        assert!(resolve("a/$/b", base, &env).is_err());
    }
}
