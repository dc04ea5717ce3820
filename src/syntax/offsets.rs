//! A set of byte offsets of one file, a bit each. The syntax tree keeps
//! where its lines start, end and what kind they are in these, not in a
//! record per line: a file of newlines has a line per byte, and a record
//! per line would cost dozens of times the file's size.

/// Offsets per counted block: the popcounts of at most this many bits are
/// added up when counting, wherever the offset.
const BLOCK_WORDS: usize = 8;
const BLOCK_BITS: usize = BLOCK_WORDS * 64;

/// Offsets `0..len`, added in increasing order.
#[derive(Debug, Clone, Default)]
pub struct OffsetSet {
    words: Vec<u64>,
    /// How many offsets lie before each block that holds one (blocks after
    /// the last one that does are not listed).
    before_block: Vec<u32>,
    count: u32,
}

impl OffsetSet {
    pub fn new(len: usize) -> OffsetSet {
        OffsetSet {
            words: vec![0; len.div_ceil(64)],
            before_block: Vec::new(),
            count: 0,
        }
    }

    /// Adds `offset`, which must be greater than every offset added before
    /// (the counts are kept as offsets come).
    pub fn push(&mut self, offset: usize) {
        let block = offset / BLOCK_BITS;
        while self.before_block.len() <= block {
            self.before_block.push(self.count);
        }
        self.words[offset / 64] |= 1 << (offset % 64);
        self.count += 1;
    }

    pub fn contains(&self, offset: usize) -> bool {
        self.words
            .get(offset / 64)
            .is_some_and(|w| w & (1 << (offset % 64)) != 0)
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 8 + self.before_block.len() * 4
    }

    /// The smallest offset in the set at or after `from`.
    pub fn next_from(&self, from: usize) -> Option<usize> {
        let mut index = from / 64;
        let mut word = *self.words.get(index)? & (u64::MAX << (from % 64));
        while word == 0 {
            index += 1;
            word = *self.words.get(index)?;
        }
        Some(index * 64 + word.trailing_zeros() as usize)
    }

    /// The largest offset in the set at or before `at`.
    pub fn prev_at(&self, at: usize) -> Option<usize> {
        let last_word = self.words.len().checked_sub(1)?;
        let (mut index, mut word) = match at / 64 {
            index if index > last_word => (last_word, self.words[last_word]),
            index => (index, self.words[index] & (u64::MAX >> (63 - at % 64))),
        };
        while word == 0 {
            index = index.checked_sub(1)?;
            word = self.words[index];
        }
        Some(index * 64 + 63 - word.leading_zeros() as usize)
    }

    /// How many offsets in the set are smaller than `offset`.
    pub fn count_before(&self, offset: usize) -> u32 {
        let block = offset / BLOCK_BITS;
        let Some(&before) = self.before_block.get(block) else {
            return self.count;
        };
        let first = block * BLOCK_WORDS;
        let whole: u32 = self.words[first..(offset / 64).min(self.words.len())]
            .iter()
            .map(|w| w.count_ones())
            .sum();
        let part = self
            .words
            .get(offset / 64)
            .map_or(0, |w| (w & ((1 << (offset % 64)) - 1)).count_ones());
        before + whole + part
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_counts_across_words_and_blocks() {
        let offsets = [0, 1, 63, 64, 511, 512, 513, 2000, 4095];
        let mut set = OffsetSet::new(4096);
        offsets.iter().for_each(|&o| set.push(o));
        for at in 0..4096 {
            let before = offsets.iter().filter(|&&o| o < at).count() as u32;
            assert_eq!(set.count_before(at), before, "count_before({at})");
            let next = offsets.iter().copied().find(|&o| o >= at);
            assert_eq!(set.next_from(at), next, "next_from({at})");
            let prev = offsets.iter().copied().rev().find(|&o| o <= at);
            assert_eq!(set.prev_at(at), prev, "prev_at({at})");
            assert_eq!(set.contains(at), offsets.contains(&at));
        }
        assert_eq!(set.count_before(1 << 20), offsets.len() as u32);
        assert_eq!(set.prev_at(1 << 20), Some(4095));
        assert_eq!(set.next_from(1 << 20), None);
        assert_eq!(set.count(), offsets.len() as u32);
    }

    #[test]
    fn an_empty_set() {
        let set = OffsetSet::new(0);
        assert_eq!(set.count(), 0);
        assert_eq!(set.next_from(0), None);
        assert_eq!(set.prev_at(5), None);
        assert_eq!(set.count_before(5), 0);
    }
}
