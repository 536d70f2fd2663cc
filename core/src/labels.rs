//! The ten GTZAN genres, in the order models emit them.
pub const GENRES: [&str; 10] =
    ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"];
pub const NUM_GENRES: usize = GENRES.len();

/// Index of a genre name (case-insensitive), as used in GTZAN file names.
pub fn genre_index(name: &str) -> Option<usize> {
    GENRES.iter().position(|g| g.eq_ignore_ascii_case(name))
}

/// Per-genre probabilities, in [`GENRES`] order.
pub type Probs = [f32; NUM_GENRES];

/// One colour per genre (GENRES order), sRGB, used by the editor and the CLI's plots. Chosen to be
/// told apart on the editor's dark and the plot's light background.
pub const GENRE_RGB: [[u8; 3]; NUM_GENRES] = [
    [0x4a, 0x90, 0xe2], // blues: blue
    [0xb8, 0xa8, 0x80], // classical: sand (ivory is invisible on white)
    [0xd9, 0x8e, 0x3a], // country: amber
    [0xe0, 0x4f, 0xd8], // disco: magenta
    [0x8e, 0x6c, 0xf0], // hiphop: violet
    [0x22, 0xc3, 0xb4], // jazz: teal
    [0xe5, 0x38, 0x3b], // metal: red
    [0xff, 0x8f, 0xb8], // pop: pink
    [0x3c, 0xb4, 0x4b], // reggae: green
    [0xf2, 0xd4, 0x3d], // rock: yellow
];
/// Colour while no genre is claimed (silence, no model).
pub const NO_GENRE_RGB: [u8; 3] = [0x4a, 0x4a, 0x4a];
/// Colour of the out-of-set class ("other / unsure"): a mid grey, apart from the genres and from
/// the darker no-genre grey.
pub const OTHER_RGB: [u8; 3] = [0x80, 0x80, 0x80];
