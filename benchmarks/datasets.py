"""Real regression data sets that load offline, for the noisy-data benchmarks.

Each loader returns ``(X, y)`` as float arrays with complete rows only. Two
sources: what ships inside scikit-learn (no download) and the small PyPI
packages of the project's ``bench`` extra (``vega_datasets``' local files,
``palmerpenguins``). Sets that scikit-learn fetches from the internet (California
housing, OpenML) are left out: benchmarks here run without a network.

``DATASETS`` maps a name to ``(loader, description)``; ``load(name)`` calls it.
``available(name)`` says whether its package is installed.
"""

import importlib.util

import numpy as np
from sklearn.datasets import load_diabetes, load_linnerud

# the package each optional set needs (the bench extra)
_NEEDS = {"vega": "vega_datasets", "penguins": "palmerpenguins"}


def _vega(name):
    from vega_datasets import data  # noqa: PLC0415 - optional, benchmark only

    return getattr(data, name.replace("-", "_"))()


def _one_hot(column, levels):
    """Indicator columns of ``levels`` (the first level of a factor is left out)."""
    return np.stack([(column == level).to_numpy(float) for level in levels], 1)


def _cyclic(fraction):
    """A periodic quantity in [0, 1) as its sine and cosine."""
    angle = 2 * np.pi * np.asarray(fraction, float)
    return np.stack([np.sin(angle), np.cos(angle)], 1)


# ------------------------------------------------------------ scikit-learn
def diabetes():
    return load_diabetes(return_X_y=True)


def linnerud(target):
    """Linnerud (20 men): one physiological measure from three exercises."""
    bunch = load_linnerud()
    column = list(bunch.target_names).index(target)
    return bunch.data.astype(float), bunch.target[:, column].astype(float)


# ------------------------------------------------------------ vega_datasets
def auto_mpg():
    """Auto MPG (UCI; 392 complete rows): miles per gallon from 7 attributes."""
    df = _vega("cars").dropna()
    X = df[["Cylinders", "Displacement", "Horsepower", "Weight_in_lbs",
            "Acceleration"]].to_numpy(float)
    year = df["Year"].dt.year.to_numpy(float)[:, None]  # a date in the package
    origin = _one_hot(df["Origin"], ("Europe", "Japan"))
    return np.hstack([X, year, origin]), df["Miles_per_Gallon"].to_numpy(float)


def anscombe():
    """Anscombe's quartet (44 rows): Y from X and which of the four series."""
    df = _vega("anscombe")
    series = _one_hot(df["Series"], ("II", "III", "IV"))
    return np.hstack([df[["X"]].to_numpy(float), series]), df["Y"].to_numpy(float)


def wheat():
    """Playfair's wheat (50 complete rows, 1565-1810): weekly wages from year and wheat price."""
    df = _vega("wheat").dropna()
    return df[["year", "wheat"]].to_numpy(float), df["wages"].to_numpy(float)


def driving():
    """US driving (55 years): petrol price from year and miles driven per head."""
    df = _vega("driving")
    return df[["year", "miles"]].to_numpy(float), df["gas"].to_numpy(float)


def iowa_electricity():
    """Iowa electricity (51 rows): net generation from year and source."""
    df = _vega("iowa-electricity")
    year = df["year"].dt.year.to_numpy(float)[:, None]
    source = _one_hot(df["source"], ("Nuclear Energy", "Renewables"))
    return np.hstack([year, source]), df["net_generation"].to_numpy(float)


def barley():
    """Immer's barley (120 rows): yield from variety, site and year (one-hot)."""
    df = _vega("barley")
    varieties = sorted(df["variety"].unique())[1:]
    sites = sorted(df["site"].unique())[1:]
    X = np.hstack([_one_hot(df["variety"], varieties), _one_hot(df["site"], sites),
                   (df["year"] == 1932).to_numpy(float)[:, None]])
    return X, df["yield"].to_numpy(float)


def seattle_weather():
    """Seattle weather (1,461 days): the day's maximum temperature from its minimum,
    precipitation, wind and the day of the year."""
    df = _vega("seattle-weather")
    day = df["date"].dt.dayofyear.to_numpy(float)
    X = np.hstack([df[["temp_min", "precipitation", "wind"]].to_numpy(float),
                   _cyclic(day / 365.25)])
    return X, df["temp_max"].to_numpy(float)


def sf_temps(rows=1500, seed=0):
    """San Francisco hourly temperatures of 2010 (8,759 hours; ``rows`` drawn at
    random): the temperature from the hour of the day and the day of the year."""
    df = _vega("sf-temps")
    date = df["date"]
    X = np.hstack([_cyclic(date.dt.hour.to_numpy(float) / 24),
                   _cyclic(date.dt.dayofyear.to_numpy(float) / 365.25)])
    y = df["temp"].to_numpy(float)
    if rows is not None and rows < y.size:
        keep = np.sort(np.random.default_rng(seed).choice(y.size, rows, replace=False))
        X, y = X[keep], y[keep]
    return X, y


# ------------------------------------------------------------ palmerpenguins
def penguins():
    """Palmer penguins (333 complete rows): body mass from bill, flipper, species, sex."""
    import palmerpenguins  # noqa: PLC0415 - optional, benchmark only

    df = palmerpenguins.load_penguins().dropna()
    X = df[["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]].to_numpy(float)
    species = _one_hot(df["species"], ("Chinstrap", "Gentoo"))
    sex = (df["sex"] == "male").to_numpy(float)[:, None]
    return np.hstack([X, species, sex]), df["body_mass_g"].to_numpy(float)


# name -> (loader, source, what is predicted from what)
DATASETS = {
    "linnerud-weight": (lambda: linnerud("Weight"), "sklearn",
                        "Linnerud: weight from chin-ups, sit-ups, jumps"),
    "linnerud-waist": (lambda: linnerud("Waist"), "sklearn",
                       "Linnerud: waist from chin-ups, sit-ups, jumps"),
    "linnerud-pulse": (lambda: linnerud("Pulse"), "sklearn",
                       "Linnerud: pulse from chin-ups, sit-ups, jumps"),
    "anscombe": (anscombe, "vega", "Anscombe's quartet: Y from X and series"),
    "wheat": (wheat, "vega", "Playfair: wages from year and wheat price"),
    "iowa-electricity": (iowa_electricity, "vega",
                         "Iowa: net generation from year and source"),
    "driving": (driving, "vega", "US: petrol price from year and miles per head"),
    "barley": (barley, "vega", "Immer's barley: yield from variety, site, year"),
    "penguins": (penguins, "penguins", "Palmer penguins: body mass"),
    "auto-mpg": (auto_mpg, "vega", "Auto MPG: miles per gallon"),
    "diabetes": (diabetes, "sklearn", "diabetes progression after one year"),
    "seattle-weather": (seattle_weather, "vega",
                        "Seattle: maximum temperature of the day"),
    "sf-temps": (sf_temps, "vega",
                 "San Francisco: hourly temperature (1,500 of 8,759 hours)"),
}


def available(name):
    """Whether the package that ``name`` loads from is installed."""
    package = _NEEDS.get(DATASETS[name][1])
    return package is None or importlib.util.find_spec(package) is not None


def load(name):
    return DATASETS[name][0]()
