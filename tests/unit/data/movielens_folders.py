"""Small folders in each MovieLens layout, written by the tests of shared.data."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from shared.data.movies import GENRES_100K

FORMATS = ("csv", "ml-100k", "ml-1m", "ml-10m", "hetrec-2k")


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))
    return folder


def csv_folder(root: Path) -> Path:
    folder = root / "ml-latest-small"
    write(folder, "ratings.csv", "userId,movieId,rating,timestamp\n"
          "1,1,4.0,964982703\n1,3,0.5,964981247\n2,1,5,1445714994\n2,2,3.5,1445714995\n"
          "3,3,2.0,1000000000\n3,3,4.5,1000000100\n")
    write(folder, "movies.csv", "movieId,title,genres\n"
          "1,Toy Story (1995),Adventure|Animation|Children\n"
          '2,"American President, The (1995)",Comedy|Drama|Romance\n'
          "3,Death Note: Desu nôto (2006–2007),(no genres listed)\n"
          "4,Babylon 5,Sci-Fi\n"
          "5,Runaway Brain (1995) ,Animation\n")
    write(folder, "tags.csv", "userId,movieId,tag,timestamp\n"
          "2,1,pixar,1445714994\n3,1,fun,1445714995\n4,1,pixar,1445714996\n"
          '2,2,"politics, romance",1445714997\n2,3, anime ,1445714998\n')
    return folder


U_ITEM = (
    "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)"
    "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "2|Misérables, Les (1995)|01-Jan-1995||http://us.imdb.com/Les"
    "|0|0|0|0|0|0|0|0|1|0|0|0|1|0|1|0|0|1|0\n"
    "3|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "4|Heavenly Creatures|01-Jan-1994||http://us.imdb.com/H|0|0|0|0|0|0|0|0|1|1|0|0|0|0|0|0|0|0|0\n"
)


def ml100k_folder(root: Path, genre_file: bool = True) -> Path:
    folder = root / "ml-100k"
    write(folder, "u.data", "196\t1\t3\t881250949\n186\t2\t3\t891717742\n22\t3\t1\t878887116\n"
                            "196\t4\t5\t881250950\n")
    write(folder, "u.item", U_ITEM, "latin-1")
    if genre_file:
        write(folder, "u.genre", "".join(f"{name}|{code}\n"
                                         for code, name in enumerate(GENRES_100K)) + "\n")
    write(folder, "u1.base", "196\t1\t3\t881250949\n186\t2\t3\t891717742\n22\t3\t1\t878887116\n")
    write(folder, "u1.test", "196\t4\t5\t881250950\n")
    return folder


def ml1m_folder(root: Path) -> Path:
    folder = root / "ml-1m"
    write(folder, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n"
                                 "2::1193::4::978298413\n")
    write(folder, "movies.dat", "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
                                "661::James and the Giant Peach (1996)::"
                                "Animation|Children's|Musical\n"
                                "1::Misérables, Les (1995)::Drama|Musical\n", "latin-1")
    write(folder, "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return folder


def ml10m_folder(root: Path) -> Path:
    folder = root / "ml-10m"
    write(folder, "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n"
                                 "2::122::0.5::868245777\n")
    write(folder, "movies.dat", "122::Boomerang (1992)::Comedy|Romance\n"
                                "185::Star Wars: Episode IV - A New Hope (1977)::"
                                "(no genres listed)\n")
    write(folder, "tags.dat", "15::122::dark hero::1188263867\n20::185::space::1188263880\n"
                              "21::185::quote: it's a trap::1188263890\n"
                              "22::185::space::1188263899\n")
    return folder


HETREC_MOVIE_COLUMNS = ("id\ttitle\timdbID\tspanishTitle\timdbPictureURL\tyear\trtID\t"
                        "rtAllCriticsRating\n")


def hetrec_folder(root: Path) -> Path:
    folder = root / "hetrec2011-movielens-2k"
    write(folder, "user_ratedmovies.dat",
          "userID\tmovieID\trating\tdate_day\tdate_month\tdate_year\tdate_hour\tdate_minute\tdate_second\n"
          "75\t3\t1\t29\t10\t2006\t23\t17\t16\n"
          "75\t32\t4.5\t29\t10\t2006\t23\t23\t44\n"
          "78\t3\t3.5\t1\t1\t1970\t0\t0\t0\n")
    write(folder, "movies.dat", HETREC_MOVIE_COLUMNS +
          "3\tGrumpy Old Men\t107050\tDos viejos gruñones\thttp://x/y.jpg\t1993\tgrumpy_old_men\t5.9\n"
          "32\tTwelve Monkeys\t114746\tDoce monos\thttp://x/z.jpg\t\\N\ttwelve_monkeys\t7.4\n",
          "latin-1")
    write(folder, "movie_genres.dat", "movieID\tgenre\n3\tComedy\n3\tRomance\n32\tSci-Fi\n")
    write(folder, "tags.dat", "id\tvalue\n1\tearth\n2\ttime travel\n3\tbleak\n")
    write(folder, "movie_tags.dat", "movieID\ttagID\ttagWeight\n32\t3\t1\n32\t2\t4\n3\t1\t2\n")
    return folder


BUILDERS = {"csv": csv_folder, "ml-100k": ml100k_folder, "ml-1m": ml1m_folder,
            "ml-10m": ml10m_folder, "hetrec-2k": hetrec_folder}

CSV_HEADER = "userId,movieId,rating,timestamp\n"
GOOD_CSV = "1,1,4.0,964982703\n1,3,4.0,964981247\n"


def movie(movies: pd.DataFrame, movie_id: int) -> dict:
    rows = movies[movies["movie_id"] == movie_id]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()
