"""The synthetic shop's catalog vocabulary: main categories, sub-categories, the
words product names are built from, price ranges and complementary pairs.

Names are `brand adjective noun variant`, with several nouns per sub-category
(earphones / earbuds / headphones), so lexical search and TF-IDF have signal and
query expansion has synonyms to find.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sub:
    name: str
    nouns: tuple[str, ...]
    price: tuple[float, float]  # list price range in rupees
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class Main:
    name: str
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]
    variants: tuple[str, ...]
    subs: tuple[Sub, ...]


def _s(name: str, nouns: str, lo: float, hi: float, variants: str = "") -> Sub:
    return Sub(
        name,
        tuple(nouns.split(",")),
        (lo, hi),
        tuple(v for v in variants.split(",") if v),
    )


COLORS = ("Black", "White", "Blue", "Red", "Grey", "Green", "Silver", "Navy")

TAXONOMY: tuple[Main, ...] = (
    Main(
        "electronics",
        ("Voltix", "Nexa", "Sonora", "Pixelon", "Zentro", "Auralis", "Kivo"),
        ("Wireless", "Smart", "Pro", "Ultra", "Compact", "Portable", "Fast", "Premium"),
        COLORS,
        (
            _s(
                "Smartphones",
                "smartphone,mobile phone,5G phone",
                7999,
                89999,
                "128GB,256GB,8GB RAM",
            ),
            _s("Laptops", "laptop,notebook,ultrabook", 29999, 149999, "16GB RAM,512GB SSD,14 inch"),
            _s(
                "Headphones",
                "headphones,earphones,earbuds,headset",
                499,
                19999,
                "Bluetooth 5.3,ANC",
            ),
            _s("Phone Cases", "phone case,back cover,bumper case", 149, 1499),
            _s("Chargers & Cables", "charger,fast charger,USB-C cable,power adapter", 199, 2999),
            _s("Computer Mice", "mouse,wireless mouse,gaming mouse", 299, 4999),
            _s("Laptop Bags", "laptop bag,laptop backpack,laptop sleeve", 599, 4999, "15.6 inch"),
            _s("Smartwatches", "smartwatch,fitness band,smart watch", 1499, 29999),
        ),
    ),
    Main(
        "tv, audio & cameras",
        ("Visiona", "Sonora", "Lumix", "Crestel", "Orbix"),
        ("4K", "HD", "Smart", "Cinematic", "Portable", "Dolby"),
        ("32 inch", "43 inch", "55 inch", "Black", "Silver"),
        (
            _s("Televisions", "smart tv,LED TV,television", 11999, 99999),
            _s("Speakers", "bluetooth speaker,soundbar,party speaker", 999, 24999),
            _s("Cameras", "camera,mirrorless camera,action camera", 9999, 89999),
            _s("Memory Cards", "memory card,microSD card,SD card", 299, 2999, "64GB,128GB"),
            _s("Tripods", "tripod,camera stand,selfie stick", 399, 4999),
        ),
    ),
    Main(
        "fashion",
        ("Urbane", "Mavro", "Tessa", "Northline", "Kairo", "Velvetta"),
        ("Slim Fit", "Casual", "Classic", "Cotton", "Printed", "Regular Fit", "Denim"),
        ("Size S", "Size M", "Size L", "Size XL") + COLORS[:5],
        (
            _s("Men's T-Shirts", "t-shirt,polo shirt,crew neck tee", 299, 1999),
            _s("Men's Jeans", "jeans,denim jeans,slim jeans", 699, 3999),
            _s("Women's Dresses", "dress,maxi dress,midi dress", 599, 4999),
            _s("Women's Kurtas", "kurta,kurti,anarkali kurta", 399, 2999),
            _s("Belts", "belt,leather belt", 199, 1999),
            _s("Socks", "socks,ankle socks,cotton socks", 99, 799, "Pack of 3,Pack of 5"),
            _s("Sunglasses", "sunglasses,aviator sunglasses,polarized sunglasses", 299, 5999),
        ),
    ),
    Main(
        "shoes",
        ("Stridex", "Pacer", "Trekka", "Solemate", "Aerofoot"),
        ("Lightweight", "Cushioned", "Breathable", "Classic", "Waterproof", "Slip-On"),
        ("UK 7", "UK 8", "UK 9", "UK 10", "Black", "White", "Grey"),
        (
            _s("Running Shoes", "running shoes,sports shoes,jogging shoes", 999, 9999),
            _s("Sneakers", "sneakers,casual shoes,canvas shoes", 799, 6999),
            _s("Formal Shoes", "formal shoes,oxford shoes,derby shoes", 999, 5999),
            _s("Sandals & Slippers", "sandals,slippers,flip flops", 199, 1999),
            _s("Shoe Care", "shoe polish,shoe cleaner,shoe brush", 99, 799),
        ),
    ),
    Main(
        "home & kitchen",
        ("Homely", "Kitchora", "Casaluxe", "Prestina", "Cookwell", "Nestor"),
        ("Stainless Steel", "Non-Stick", "Compact", "Durable", "Premium", "Electric"),
        ("1 Litre", "2 Litre", "Set of 3", "Set of 6", "Silver", "Black"),
        (
            _s("Cookware", "frying pan,kadai,pressure cooker,saucepan", 499, 4999),
            _s("Mixer Grinders", "mixer grinder,blender,juicer", 1499, 8999),
            _s("Kitchen Storage", "storage container,spice rack,lunch box", 199, 1999),
            _s("Bedsheets", "bedsheet,double bedsheet,fitted sheet", 399, 2999),
            _s("Pillows", "pillow,cushion,memory foam pillow", 299, 1999),
            _s("Water Bottles", "water bottle,flask,insulated bottle", 199, 1499, "750 ml,1 Litre"),
            _s("Cleaning Supplies", "mop,cleaning brush,microfiber cloth", 149, 1999),
        ),
    ),
    Main(
        "appliances",
        ("Coolair", "Frostek", "Voltas Pro", "Whirlon", "Hayer"),
        ("Inverter", "Energy Saving", "Smart", "5 Star", "3 Star", "Compact"),
        ("1 Ton", "1.5 Ton", "190 L", "260 L", "7 kg", "White"),
        (
            _s("Air Conditioners", "split AC,window AC,air conditioner", 24999, 69999),
            _s("Refrigerators", "refrigerator,double door fridge,single door fridge", 12999, 59999),
            _s(
                "Washing Machines",
                "washing machine,front load washer,top load washer",
                11999,
                44999,
            ),
            _s("Water Purifiers", "water purifier,RO purifier,UV purifier", 4999, 19999),
            _s("Stabilizers", "voltage stabilizer,AC stabilizer", 1499, 4999),
        ),
    ),
    Main(
        "sports & fitness",
        ("Fitmax", "Sprintz", "Corevo", "Ironclad", "Yogini"),
        ("Anti-Slip", "Adjustable", "Lightweight", "Heavy Duty", "Professional"),
        ("Black", "Blue", "Red", "Green", "5 kg", "10 kg"),
        (
            _s("Yoga", "yoga mat,yoga block,yoga strap", 299, 2999),
            _s("Dumbbells", "dumbbell,dumbbell set,kettlebell", 499, 5999),
            _s("Cycling", "bicycle,cycle helmet,cycling gloves", 499, 19999),
            _s("Cricket", "cricket bat,cricket ball,batting gloves", 299, 7999),
            _s("Sports Socks", "sports socks,running socks,compression socks", 149, 899),
            _s("Gym Bags", "gym bag,duffel bag,sports bag", 499, 2999),
        ),
    ),
    Main(
        "beauty & health",
        ("Glowra", "Purelle", "Herbiva", "Dermix", "Aromy"),
        ("Natural", "Herbal", "Hydrating", "Organic", "Long Lasting", "Matte"),
        ("50 ml", "100 ml", "200 ml", "Pack of 2"),
        (
            _s("Skin Care", "face wash,moisturizer,sunscreen,serum", 149, 1499),
            _s("Hair Care", "shampoo,conditioner,hair oil", 149, 999),
            _s("Makeup", "lipstick,kajal,foundation,nail polish", 99, 1999),
            _s("Fragrances", "perfume,deodorant,body mist", 199, 3999),
            _s("Grooming", "trimmer,beard trimmer,hair dryer,shaver", 699, 4999),
        ),
    ),
    Main(
        "books",
        ("Penwise", "Inkwell", "Folio House", "Brightleaf"),
        ("Bestselling", "Illustrated", "Paperback", "Hardcover", "Complete"),
        ("English", "Hindi", "2023 Edition"),
        (
            _s("Fiction", "novel,thriller novel,mystery novel,fantasy novel", 149, 799),
            _s("Exam Prep", "exam guide,practice papers,question bank", 199, 999),
            _s("Children's Books", "picture book,story book,activity book", 99, 599),
            _s("Self-Help", "self help book,productivity book,biography", 149, 699),
        ),
    ),
    Main(
        "toys & baby products",
        ("Tinytot", "Playwell", "Bloomy", "Kiddo", "Funskool Plus"),
        ("Educational", "Soft", "Colourful", "Safe", "Musical", "Remote Control"),
        ("0-6 Months", "3+ Years", "5+ Years", "Pink", "Blue"),
        (
            _s("Toys", "building blocks,puzzle,toy car,soft toy", 199, 2999),
            _s("Diapers", "diapers,baby diapers,pant diapers", 399, 1999, "Size M,Size L"),
            _s("Baby Care", "baby lotion,baby wipes,baby shampoo", 99, 799),
            _s("Strollers", "stroller,baby pram,baby carrier", 1999, 14999),
        ),
    ),
    Main(
        "grocery & gourmet foods",
        ("Farmfresh", "Annapurna", "Spicetrail", "Nutriva", "Brewcraft"),
        ("Organic", "Premium", "Roasted", "Whole", "Instant", "Sugar Free"),
        ("250 g", "500 g", "1 kg", "Pack of 2"),
        (
            _s("Tea & Coffee", "green tea,coffee,instant coffee,masala tea", 149, 999),
            _s("Snacks", "cookies,namkeen,chips,protein bar", 49, 499),
            _s("Dry Fruits", "almonds,cashews,walnuts,raisins", 199, 1499),
            _s("Spices", "turmeric powder,garam masala,chilli powder", 49, 399),
            _s("Coffee Mugs", "coffee mug,tea cup,travel mug", 149, 999),
        ),
    ),
    Main(
        "car & motorbike",
        ("Autozen", "Ridex", "Motocare", "Gearup"),
        ("Universal", "Heavy Duty", "Waterproof", "Premium", "Portable"),
        ("Black", "Grey", "Free Size"),
        (
            _s("Helmets", "helmet,full face helmet,open face helmet", 799, 4999),
            _s("Car Accessories", "car phone holder,car charger,car perfume", 199, 1999),
            _s("Car Care", "car shampoo,car polish,microfiber car cloth", 149, 999),
            _s("Bike Covers", "bike cover,car cover", 299, 1999),
        ),
    ),
)

# Complementary sub-categories: buying the left often comes with the right.
COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "Smartphones": ("Phone Cases", "Chargers & Cables", "Headphones"),
    "Laptops": ("Computer Mice", "Laptop Bags"),
    "Smartwatches": ("Chargers & Cables",),
    "Cameras": ("Memory Cards", "Tripods"),
    "Televisions": ("Speakers",),
    "Running Shoes": ("Sports Socks",),
    "Sneakers": ("Socks", "Shoe Care"),
    "Formal Shoes": ("Shoe Care", "Belts"),
    "Men's Jeans": ("Belts", "Men's T-Shirts"),
    "Cookware": ("Kitchen Storage",),
    "Air Conditioners": ("Stabilizers",),
    "Refrigerators": ("Stabilizers",),
    "Yoga": ("Water Bottles",),
    "Dumbbells": ("Gym Bags",),
    "Cycling": ("Water Bottles", "Helmets"),
    "Cricket": ("Sports Socks",),
    "Hair Care": ("Grooming",),
    "Diapers": ("Baby Care",),
    "Strollers": ("Baby Care",),
    "Tea & Coffee": ("Coffee Mugs", "Snacks"),
    "Bike Covers": ("Helmets",),
    "Bedsheets": ("Pillows",),
}
