//! The ten GTZAN genres, in the order models emit them.
pub const GENRES: [&str; 10] =
    ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"];
pub const NUM_GENRES: usize = GENRES.len();

/// Index of a genre name (case-insensitive), as used in GTZAN file names.
pub fn genre_index(name: &str) -> Option<usize> {
    GENRES.iter().position(|g| g.eq_ignore_ascii_case(name))
}

/// The 50 music tags of musicnn's MSD_musicnn trunk (its `taggram` output, sigmoid scores), in
/// output order: musicnn 0.1.0's `configuration.py` (`MSD_LABELS`), checked against TensorFlow's
/// outputs in `trainer/tests/data/musicnn/trunk_ref.json` ("model.tags"). Styles, moods, decades
/// and voices ("chillout", "Mellow", "80s", "female vocalists"): what the library finds by mood.
pub const MSD_TAGS: [&str; 50] = [
    "rock",
    "pop",
    "alternative",
    "indie",
    "electronic",
    "female vocalists",
    "dance",
    "00s",
    "alternative rock",
    "jazz",
    "beautiful",
    "metal",
    "chillout",
    "male vocalists",
    "classic rock",
    "soul",
    "indie rock",
    "Mellow",
    "electronica",
    "80s",
    "folk",
    "90s",
    "chill",
    "instrumental",
    "punk",
    "oldies",
    "blues",
    "hard rock",
    "ambient",
    "acoustic",
    "experimental",
    "female vocalist",
    "guitar",
    "Hip-Hop",
    "70s",
    "party",
    "country",
    "easy listening",
    "sexy",
    "catchy",
    "funk",
    "electro",
    "heavy metal",
    "Progressive rock",
    "60s",
    "rnb",
    "indie pop",
    "sad",
    "House",
    "happy",
];
pub const NUM_TAGS: usize = MSD_TAGS.len();

/// The trunk output that holds a window's [`MSD_TAGS`] scores, when it has [`NUM_TAGS`] values.
pub const TAGS_OUTPUT: &str = "taggram";

/// A tag's name as typed on a command line: lower case, words joined by '-'
/// ("female vocalists" → "female-vocalists", "Hip-Hop" → "hip-hop").
pub fn tag_slug(tag: usize) -> String {
    MSD_TAGS[tag].to_lowercase().replace(' ', "-")
}

/// Index of a tag by name, ignoring case and the separators ' ', '-' and '_' ("chillout",
/// "female-vocalists", "Female Vocalists", "hip hop", "HipHop" all match).
pub fn tag_index(name: &str) -> Option<usize> {
    let key =
        |s: &str| s.chars().filter(|c| !matches!(c, ' ' | '-' | '_')).flat_map(char::to_lowercase).collect::<String>();
    let wanted = key(name);
    MSD_TAGS.iter().position(|t| key(t) == wanted)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_found_by_any_spelling_and_slugs_are_unique() {
        assert_eq!(tag_index("female-vocalists"), Some(5));
        assert_eq!(tag_index("Female Vocalist"), Some(31));
        assert_eq!(tag_index("hip hop"), tag_index("Hip-Hop"));
        assert_eq!(tag_index("HIPHOP"), Some(33));
        assert_eq!(tag_index("mellow"), Some(17));
        assert_eq!(tag_index("polka"), None);
        let mut slugs: Vec<String> = (0..NUM_TAGS).map(tag_slug).collect();
        assert_eq!(slugs[43], "progressive-rock");
        for (i, s) in slugs.iter().enumerate() {
            assert_eq!(tag_index(s), Some(i), "{s}");
        }
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), NUM_TAGS);
    }
}
