//! Every file of ../shared/corpus parses into physical lines that write
//! back byte for byte, and into logical lines without a panic.

mod common;

use capcheck::syntax::logical::UnitFile;
use capcheck::syntax::SyntaxTree;
use capcheck::unit_name::UnitType;

#[test]
fn corpus_round_trips_byte_for_byte() {
    let Some(shared) = common::shared_dir() else {
        return common::skip(
            "corpus_round_trips_byte_for_byte",
            "needs ../shared/corpus beside this checkout",
        );
    };
    let mut files = 0;
    for entry in walkdir::WalkDir::new(shared.join("corpus")).sort_by_file_name() {
        let entry = entry.unwrap();
        if !entry.file_type().is_file()
            || entry.path().components().any(|c| c.as_os_str() == "oracle")
        {
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        let tree = SyntaxTree::parse(bytes.clone());
        assert_eq!(tree.to_bytes(), bytes, "{}", entry.path().display());
        let covered: usize = tree.lines().map(|l| l.span.len() + l.eol.len()).sum();
        assert_eq!(
            covered,
            bytes.len(),
            "every byte in exactly one line: {}",
            entry.path().display()
        );
        let file = UnitFile::parse(entry.path(), bytes, UnitType::Service);
        for a in &file.assignments {
            assert_eq!(
                &file.text()[a.key_span.clone()],
                a.key,
                "key span in {}",
                entry.path().display()
            );
        }
        files += 1;
    }
    println!("{files} corpus files round-tripped");
    assert!(files > 800, "{files}");
}

/// Byte-level edge cases the corpus lacks: CRLF, BOM, NUL, no final
/// newline, trailing blanks, continuations with comments, invalid UTF-8.
#[test]
fn edge_cases_round_trip() {
    let cases: [&[u8]; 9] = [
        b"[Service]\r\nUser=a\r\n",
        b"\xef\xbb\xbf[Service]\nUser=a",
        b"[Service]\nUser=a\x00Group=b\n\n\n",
        b"[Service]   \n  User = a  \t\n",
        b"[Service]\nExecStart=/bin/a \\\n# c \\\n  b \\\n\nUser=x\n",
        b"[Service]\nUser=\xff\xfe\n",
        b"\n\r\n\r\r\n\x00",
        b"",
        b"\\",
    ];
    for case in cases {
        assert_eq!(SyntaxTree::parse(case.to_vec()).to_bytes(), case);
    }
}
