"""The words generated catalogues are made of: MovieLens's genres with their frequencies in
ml-latest, tags that go with each genre, and title parts."""
from __future__ import annotations

import numpy as np

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
NO_GENRES = "(no genres listed)"
# Movies per genre in ml-latest-small: genres are drawn in these proportions.
GENRE_COUNTS = np.array([1828, 1263, 611, 664, 3756, 1199, 440, 4361, 779, 87, 978, 158, 334,
                         573, 1596, 980, 1894, 382, 167], dtype=np.float64)

GENRE_TAGS = {
    "Action": ["action", "explosions", "car chase", "fight scenes", "adrenaline", "martial arts"],
    "Adventure": ["adventure", "treasure hunt", "epic journey", "exotic locations", "quest"],
    "Animation": ["animation", "pixar", "hand-drawn", "stop motion", "anime",
                  "beautiful animation"],
    "Children": ["family", "kids", "Disney", "talking animals", "coming of age"],
    "Comedy": ["funny", "hilarious", "dark comedy", "quirky", "witty", "slapstick", "satire"],
    "Crime": ["heist", "mafia", "gangsters", "police", "organized crime", "noir-ish"],
    "Documentary": ["documentary", "true story", "politics", "history", "nature", "music"],
    "Drama": ["thought-provoking", "emotional", "tearjerker", "character study", "family drama"],
    "Fantasy": ["magic", "dragons", "fairy tale", "surreal", "mythology", "wizards"],
    "Film-Noir": ["film noir", "femme fatale", "black and white", "detective", "classic"],
    "Horror": ["scary", "gore", "zombies", "vampires", "creepy", "haunted house", "slasher"],
    "IMAX": ["IMAX", "stunning visuals", "big screen", "3D"],
    "Musical": ["musical", "great soundtrack", "singing", "dancing", "Broadway"],
    "Mystery": ["mystery", "twist ending", "whodunit", "suspense", "clever plot", "puzzle"],
    "Romance": ["romance", "love story", "romantic comedy", "chick flick", "sweet"],
    "Sci-Fi": ["sci-fi", "space", "time travel", "dystopia", "aliens", "artificial intelligence",
               "cyberpunk"],
    "Thriller": ["suspense", "tense", "psychological", "conspiracy", "serial killer", "thriller"],
    "War": ["war", "World War II", "Vietnam", "military", "anti-war", "historical"],
    "Western": ["western", "cowboys", "gunfight", "frontier", "spaghetti western"],
}
GENERAL_TAGS = ["atmospheric", "visually appealing", "great acting", "overrated", "classic",
                "In Netflix queue", "cult film", "based on a book", "predictable", "slow",
                "quotable", "boring", "masterpiece", "soundtrack", "must see"]

TITLE_ADJECTIVES = [
    "Quiet", "Last", "Silent", "Broken", "Golden", "Hidden", "Lost", "Crimson", "Endless",
    "Burning", "Distant", "Frozen", "Wild", "Secret", "Midnight", "Dark", "Bright", "Forgotten",
    "Little", "Long", "Final", "Empty", "Savage", "Gentle", "Electric", "Hollow", "Restless",
    "Scarlet", "Blue", "Iron", "Paper", "Velvet", "Shattered", "Sweet", "Bitter", "Lonely",
]
TITLE_NOUNS = [
    "Harbor", "Road", "Kingdom", "River", "Summer", "Winter", "Stranger", "Garden", "Promise",
    "Storm", "Horizon", "Mirror", "Heart", "City", "Island", "Empire", "Witness", "Dream",
    "Shadow", "Ghost", "Letter", "Frontier", "Night", "Journey", "Castle", "Machine", "Station",
    "Valley", "Mountain", "Sky", "Game", "Hunter", "Voyage", "Signal", "Orchard", "Circus",
]
TITLE_NAMES = ["Anna", "Max", "Lucy", "Victor", "Rosa", "Henry", "Ivan", "Clara", "Jack",
               "Mira", "Oscar", "Nina", "Leo", "Ada", "Sam", "Eve"]
