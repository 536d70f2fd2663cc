//! The ten GTZAN genres, in the order models emit them.
pub const GENRES: [&str; 10] = [
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
];
pub const NUM_GENRES: usize = GENRES.len();

/// Index of a genre name (case-insensitive), as used in GTZAN file names.
pub fn genre_index(name: &str) -> Option<usize> {
    GENRES.iter().position(|g| g.eq_ignore_ascii_case(name))
}
