//! First pass over the raw text: width, case, separators, dashes.

/// Cleans `s` into the characters the scanner reads:
///
/// - full-width ASCII (`３`, `Ａ`, `－`, `（`) becomes half-width, the ideographic space a space;
/// - ASCII letters become upper case (`a座` = `A座`);
/// - dash-like characters (`-－—–‐−~～〜`) become `-`, kept only between two digits (`3-2-301`,
///   `98~114` → `98-114`), several in a row count as one;
/// - `#` becomes `号` (`3#楼` = `3号楼`);
/// - the traditional forms of the unit and division words become simplified (`號` → `号`,
///   `棟` → `栋`, `樓` → `楼`, `單` → `单`, `門` → `门`, `層` → `层`, `區` → `区`, `縣` → `县`,
///   `鎮` → `镇`, `鄉` → `乡`), as police and older registers write them (`100號` = `100号`);
/// - whitespace and punctuation (`,，。、;；:：()（）[]【】"“”'‘’·/\` and the like) are dropped,
///   except that a run of them between two digits becomes a `-` (`3 2 301` = `3-2-301`);
/// - control characters are dropped.
pub(crate) fn clean(s: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(s.len() / 2 + 4);
    // A separator or dash was seen since the last kept character.
    let mut gap = false;
    for c in s.chars() {
        let c = half_width(c);
        if c.is_ascii_digit() {
            if gap && out.last().is_some_and(char::is_ascii_digit) {
                out.push('-');
            }
            gap = false;
            out.push(c);
        } else if is_dash(c) || is_separator(c) || c.is_control() {
            gap = true;
        } else {
            gap = false;
            out.push(match c {
                '#' => '号',
                c if c.is_ascii_lowercase() => c.to_ascii_uppercase(),
                c => simplified(c),
            });
        }
    }
    out
}

/// The simplified form of a traditional unit or division word, `c` itself otherwise.
fn simplified(c: char) -> char {
    match c {
        '號' => '号',
        '棟' => '栋',
        '樓' => '楼',
        '單' => '单',
        '門' => '门',
        '層' => '层',
        '區' => '区',
        '縣' => '县',
        '鎮' => '镇',
        '鄉' => '乡',
        c => c,
    }
}

fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | '~' | '～' | '〜' | '﹣'
    )
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ',' | '.'
                | ';'
                | ':'
                | '!'
                | '?'
                | '\''
                | '"'
                | '`'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '/'
                | '\\'
                | '|'
                | '_'
                | '*'
                | '+'
                | '='
                | '@'
                | '$'
                | '%'
                | '^'
                | '&'
                | '，'
                | '。'
                | '、'
                | '；'
                | '：'
                | '！'
                | '？'
                | '“'
                | '”'
                | '‘'
                | '’'
                | '（'
                | '）'
                | '【'
                | '】'
                | '「'
                | '」'
                | '『'
                | '』'
                | '《'
                | '》'
                | '〈'
                | '〉'
                | '·'
                | '•'
                | '…'
                | '\u{feff}'
                | '\u{200b}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        clean(s).into_iter().collect()
    }

    #[test]
    fn full_width_becomes_half_width() {
        assert_eq!(c("３幢２单元３０１室"), "3幢2单元301室");
        assert_eq!(c("ａ座"), "A座");
        assert_eq!(c("３－２－３０１"), "3-2-301");
    }

    #[test]
    fn separators_between_digits_become_a_dash() {
        assert_eq!(c("3 2 301"), "3-2-301");
        assert_eq!(c("3 - 2 -- 301"), "3-2-301");
        assert_eq!(c("98~114"), "98-114");
        assert_eq!(c("3/2/301"), "3-2-301");
    }

    #[test]
    fn other_separators_are_dropped() {
        assert_eq!(c(" 中山东一路， 12号。"), "中山东一路12号");
        assert_eq!(c("汇龙镇（东方村）-3组"), "汇龙镇东方村3组");
        assert_eq!(c("3#楼"), "3号楼");
        assert_eq!(c("-301-"), "301");
    }

    #[test]
    fn traditional_unit_words_become_simplified() {
        assert_eq!(c("世纪大道１００號６０１室"), "世纪大道100号601室");
        assert_eq!(c("陽光花園3棟2單元3層301"), "陽光花園3栋2单元3层301");
    }
}
