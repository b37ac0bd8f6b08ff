//! The corpus: CoNLL-2000 from `--data`, `$MTL_DATA_DIR` or `../shared/data`, else synthetic.

use crate::args::Args;
use crate::common;
use staticflow::data::{find_data_dir, read_conll};
use staticflow::models::tagger::TaggerData;
use staticflow::prelude::*;
use std::path::Path;

/// `--data`, else `$MTL_DATA_DIR/conll2000`, else `../shared/data/conll2000` relative to the
/// project root, else synthetic.
pub(crate) fn load_data(args: &Args) -> Result<TaggerData> {
    let dir =
        match &args.data {
            // `--data` names the same level as $MTL_DATA_DIR (the folder holding `conll2000/`);
            // the `conll2000` folder itself is accepted too.
            Some(d) => {
                let has = |d: &Path| d.join("train.txt").is_file() && d.join("test.txt").is_file();
                match [d.join("conll2000"), d.clone()]
                    .into_iter()
                    .find(|d| has(d))
                {
                    Some(d) => Some(common::absolute(&d)),
                    None => return Err(Error::io(
                        d,
                        "--data must name the folder holding conll2000/ (train.txt, test.txt), \
                         as $MTL_DATA_DIR does",
                    )),
                }
            }
            None => {
                find_data_dir("conll2000", &["train.txt", "test.txt"]).map(|d| common::absolute(&d))
            }
        };
    match dir {
        Some(d) => {
            let train = read_conll(d.join("train.txt"))?;
            let test = read_conll(d.join("test.txt"))?;
            println!(
                "data: CoNLL-2000 from {} ({} train / {} test sentences)",
                d.display(),
                train.len(),
                test.len()
            );
            Ok(TaggerData::new("conll2000", train, test))
        }
        None => {
            let bar = "!".repeat(78);
            println!("{bar}");
            let looked: Vec<String> = staticflow::data::data_dir_candidates("conll2000")
                .iter()
                .map(|d| common::absolute(d).display().to_string())
                .collect();
            println!(
                "!! NO CoNLL-2000 DATA FOUND (no --data; looked in {}).",
                looked.join(", ")
            );
            println!("!! USING THE BUILT-IN SYNTHETIC CORPUS: the numbers below are NOT CoNLL-2000 results.");
            println!("{bar}");
            Ok(TaggerData::synthetic())
        }
    }
}
