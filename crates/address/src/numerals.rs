//! Chinese numerals to digit strings: 三 → 3, 十二 → 12, 二十一 → 21, 一百零五 → 105,
//! 三〇一 → 301 (digit by digit when there is no 十/百/千).

/// Whether `c` can appear in a Chinese numeral.
pub(crate) fn is_cn_numeral(c: char) -> bool {
    cn_digit(c).is_some() || matches!(c, '十' | '百' | '千')
}

fn cn_digit(c: char) -> Option<u64> {
    Some(match c {
        '零' | '〇' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

fn multiplier(c: char) -> Option<u64> {
    match c {
        '十' => Some(10),
        '百' => Some(100),
        '千' => Some(1000),
        _ => None,
    }
}

/// Converts a run of Chinese numeral characters to a digit string without leading zeros.
///
/// With a 十/百/千 the run is read positionally (一百零五 = 105, 十二 = 12, and the colloquial
/// 一百一 = 110); without one, digit by digit (三〇一 = 301). Returns `None` for a malformed run
/// such as 十百 or 一二十.
pub(crate) fn cn_to_digits(run: &[char]) -> Option<String> {
    if run.is_empty() {
        return None;
    }
    if !run.iter().any(|&c| multiplier(c).is_some()) {
        let mut s = String::with_capacity(run.len());
        for &c in run {
            let d = cn_digit(c)?;
            s.push(char::from(b'0' + d as u8));
        }
        return Some(strip_leading_zeros(&s).to_string());
    }
    let mut total: u64 = 0;
    let mut digit: Option<u64> = None;
    // The multiplier last applied, to reject 十百 and to read 一百一 as 110.
    let mut last_mult: u64 = u64::MAX;
    let mut zero_since_mult = false;
    for &c in run {
        if let Some(d) = cn_digit(c) {
            if d == 0 {
                if digit.is_some() {
                    return None;
                }
                zero_since_mult = true;
                continue;
            }
            if digit.is_some() {
                return None;
            }
            digit = Some(d);
        } else if let Some(m) = multiplier(c) {
            if m >= last_mult {
                return None;
            }
            // 十 alone means 1×10; 百 and 千 need their digit (一百, not 百).
            let d = match digit {
                Some(d) => d,
                None if m == 10 && total == 0 && !zero_since_mult => 1,
                None if m == 10 && zero_since_mult => 1,
                None => return None,
            };
            total += d * m;
            digit = None;
            last_mult = m;
            zero_since_mult = false;
        } else {
            return None;
        }
    }
    if let Some(d) = digit {
        // 一百一 = 110, 一千二 = 1200: a bare digit right after 百/千 counts in the next lower place.
        if !zero_since_mult && last_mult >= 100 && last_mult != u64::MAX {
            total += d * (last_mult / 10);
        } else {
            total += d;
        }
    }
    Some(total.to_string())
}

/// `"0301"` → `"301"`, `"000"` → `"0"`.
pub(crate) fn strip_leading_zeros(s: &str) -> &str {
    let t = s.trim_start_matches('0');
    if t.is_empty() && !s.is_empty() {
        "0"
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cn(s: &str) -> Option<String> {
        cn_to_digits(&s.chars().collect::<Vec<_>>())
    }

    #[test]
    fn positional_numerals() {
        for (s, want) in [
            ("三", "3"),
            ("十", "10"),
            ("十二", "12"),
            ("二十", "20"),
            ("二十一", "21"),
            ("一百零五", "105"),
            ("一百一十", "110"),
            ("一百一", "110"),
            ("两百", "200"),
            ("一千零一", "1001"),
            ("一千二百三十四", "1234"),
            ("零", "0"),
            ("〇", "0"),
        ] {
            assert_eq!(cn(s).as_deref(), Some(want), "{s}");
        }
    }

    #[test]
    fn digit_by_digit_numerals() {
        assert_eq!(cn("三〇一").as_deref(), Some("301"));
        assert_eq!(cn("一二零二").as_deref(), Some("1202"));
        assert_eq!(cn("〇五").as_deref(), Some("5"));
    }

    #[test]
    fn malformed_numerals() {
        for s in ["十百", "一二十", "百", "", "二二十"] {
            assert_eq!(cn(s), None, "{s}");
        }
    }

    #[test]
    fn leading_zeros() {
        assert_eq!(strip_leading_zeros("0301"), "301");
        assert_eq!(strip_leading_zeros("000"), "0");
        assert_eq!(strip_leading_zeros("12"), "12");
    }
}
