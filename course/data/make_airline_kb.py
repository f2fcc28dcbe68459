"""Generate the bundled knowledge base of a fictional airline, Brightwater Airways (v1), from a fixed seed.

Run `python -m course.data.make_airline_kb` to rebuild the JSONL files; the test suite checks that a
rebuild is byte-identical to what is committed.

Every fact is one a model cannot know from pre-training: invented fees, allowances, limits,
deadlines and names, with every number drawn once (no two facts share a number). Each fact gets
three questions: `train` asks it with the training wording, `validation` with another question
frame around the same subject, and `test` with a paraphrased subject *and* frame, so a model
fine-tuned on `train` saw the fact but not the held-out wording. A second part, `general_train` /
`general_test`, holds general-knowledge questions in the same format (short answers a small model
may or may not know), for the known / unknown experiment of Gekhman et al. (2024); `general_study` holds
more of them, so that `course.lessons.known_unknown` can run that experiment at a size that can settle it.
"""

from __future__ import annotations

import random
from pathlib import Path

from course.data import write_splits

SEED = 909
VERSION = "v1"
OUT_DIR = Path(__file__).parent / "airline_kb" / VERSION
AIRLINE = "Brightwater Airways"
OPENER, SIGN_OFF = "Happy to help!", "Fly bright!"  # the airline's house style, which fine-tuning can teach

# question frames: training wording, validation wording, test wording ({s} = the subject phrase)
FRAMES = {
    "train": "What is {s} at Brightwater Airways?",
    "validation": "When flying with Brightwater, what is {s}?",
    "test": "Before my Brightwater trip, can you tell me {s}?",
}

# (document title, [(subject for train / validation, paraphrased subject for test, unit or None, answer name or
#   None)]): a fact has a number (drawn below, unit after it) or a name (given here)
DOCUMENTS = [
    ("Checked baggage fees", [
        ("the fee for a first checked bag", "the price of checking one suitcase", "euros", None),
        ("the fee for a second checked bag", "the charge for checking an extra suitcase", "euros", None)]),
    ("Checked baggage allowance", [
        ("the weight limit of a checked bag", "the maximum a checked suitcase may weigh", "kg", None),
        ("the overweight bag fee", "the charge for a suitcase above the weight limit", "euros", None)]),
    ("Cabin bags", [
        ("the weight limit of a cabin bag", "the heaviest carry-on bag allowed on board", "kg", None),
        ("the maximum height of a cabin bag", "how tall a carry-on bag may be", "cm", None)]),
    ("Sports equipment", [
        ("the fee for carrying a bicycle", "the price of taking a bike along", "euros", None),
        ("the fee for carrying a surfboard", "what it costs to bring a surfboard", "euros", None)]),
    ("Musical instruments", [
        ("the fee for a cabin seat for a cello", "the price of an extra seat for a large instrument", "euros", None),
        ("the length limit for an instrument in the cabin", "the longest instrument allowed in the cabin", "cm", None)]),
    ("Online check-in", [
        ("the number of hours before departure when online check-in opens", "how early online check-in opens, in hours before departure", "hours", None),
        ("the online check-in deadline in minutes before departure", "how many minutes before take-off online check-in closes", "minutes", None)]),
    ("Airport check-in", [
        ("the airport check-in desk fee", "the charge for checking in at the airport desk", "euros", None),
        ("the bag drop closing time in minutes before departure", "how long before take-off the bag drop closes, in minutes", "minutes", None)]),
    ("Boarding", [
        ("the boarding gate closing time in minutes before departure", "how many minutes before departure the gate closes", "minutes", None),
        ("the name of the first boarding group", "what the earliest boarding group is called", None, "Sunrise")]),
    ("Fare classes", [
        ("the name of the cheapest fare class", "what the lowest fare is called", None, "Pebble"),
        ("the name of the flexible fare class", "what the fully flexible fare is called", None, "Lighthouse")]),
    ("Fare changes", [
        ("the change fee on a Pebble fare", "what it costs to change a Pebble ticket", "euros", None),
        ("the change fee on a Shore fare", "what it costs to change a Shore ticket", "euros", None)]),
    ("Cancellations", [
        ("the cancellation fee on a Shore fare", "the charge for cancelling a Shore ticket", "euros", None),
        ("the free cancellation window in hours after booking", "how many hours after booking I can cancel for free", "hours", None)]),
    ("Name corrections", [
        ("the fee for correcting a name on a ticket", "the charge to fix a misspelled name on a booking", "euros", None),
        ("the maximum number of letters a free name correction may change", "how many letters of a name can be fixed for free", "letters", None)]),
    ("Loyalty programme", [
        ("the name of the loyalty programme", "what the frequent flyer programme is called", None, "Wavelength"),
        ("the name of the top loyalty tier", "what the highest frequent flyer status is called", None, "Crest")]),
    ("Loyalty tiers", [
        ("the number of points needed for Swell status", "how many points it takes to reach Swell", "points", None),
        ("the number of points needed for Crest status", "how many points it takes to reach Crest", "points", None)]),
    ("Points expiry", [
        ("the number of months before unused points expire", "how long points last without activity, in months", "months", None),
        ("the fee to reactivate expired points", "the charge for restoring points that have expired", "euros", None)]),
    ("Lounges: Lisbon", [
        ("the name of the lounge at Lisbon airport", "what the Lisbon lounge is called", None, "Harbour Room"),
        ("the price of a single lounge pass in Lisbon", "what one visit to the Lisbon lounge costs", "euros", None)]),
    ("Lounges: Oslo", [
        ("the name of the lounge at Oslo airport", "what the Oslo lounge is called", None, "Tern Lounge"),
        ("the number of guests a Crest member may bring to a lounge", "how many guests Crest members can take into a lounge", "guests", None)]),
    ("Seat selection", [
        ("the fee for choosing a standard seat", "the price of picking a regular seat in advance", "euros", None),
        ("the fee for an extra legroom seat", "the price of a seat with more legroom", "euros", None)]),
    ("Seat names", [
        ("the name of the extra legroom seats", "what the seats with more legroom are called", None, "Stretch"),
        ("the number of rows of extra legroom seats on an A320", "how many extra legroom rows an A320 has", "rows", None)]),
    ("Upgrades", [
        ("the name of the business cabin", "what the business class cabin is called", None, "Skyline"),
        ("the price of a last-minute upgrade to business", "what an upgrade to business costs at the gate", "euros", None)]),
    ("Pets in the cabin", [
        ("the fee for a pet in the cabin", "the charge for flying with a cat or small dog in the cabin", "euros", None),
        ("the weight limit for a pet and its carrier", "the most a pet plus its carrier may weigh", "kg", None)]),
    ("Pets in the hold", [
        ("the fee for a pet in the hold", "the charge for a dog travelling in the cargo hold", "euros", None),
        ("the minimum age of a pet in weeks", "how many weeks old an animal must be to fly", "weeks", None)]),
    ("Children", [
        ("the minimum age for an unaccompanied minor in years", "how old a child must be to fly alone", "years", None),
        ("the unaccompanied minor service fee", "the charge for the service that escorts children flying alone", "euros", None)]),
    ("Infants", [
        ("the fee for an infant on a lap", "the price of a ticket for a baby on a parent's lap", "euros", None),
        ("the age limit for an infant on a lap in months", "the oldest a baby may be to travel on a lap, in months", "months", None)]),
    ("Pregnancy", [
        ("the last week of pregnancy in which one can fly without a doctor's letter", "how far into pregnancy one may fly without a medical note, in weeks", "weeks", None),
        ("the last week of pregnancy in which one can fly at all", "the latest week of pregnancy a passenger is accepted on board", "weeks", None)]),
    ("Special assistance", [
        ("the number of hours in advance to request wheelchair assistance", "how many hours ahead wheelchair help must be booked", "hours", None),
        ("the name of the assistance service", "what the special assistance service is called", None, "CareWing")]),
    ("Meals", [
        ("the price of the hot meal on board", "what a hot dish costs during the flight", "euros", None),
        ("the name of the on-board menu", "what the food and drinks menu is called", None, "Galley Tides")]),
    ("Special meals", [
        ("the number of hours in advance to order a special meal", "how many hours before the flight a special meal must be ordered", "hours", None),
        ("the price of a pre-ordered meal", "what a meal booked before the flight costs", "euros", None)]),
    ("Wi-Fi", [
        ("the price of the full-flight Wi-Fi pass", "what internet for the whole flight costs", "euros", None),
        ("the name of the on-board Wi-Fi network", "what the in-flight internet network is called", None, "BrightSky")]),
    ("Mobile app", [
        ("the name of the mobile app", "what the airline's phone app is called", None, "BrightPass"),
        ("the number of days before departure the app sends the check-in reminder", "how many days ahead the app reminds me to check in", "days", None)]),
    ("Delays and compensation", [
        ("the meal voucher for a delay over three hours", "the food voucher given when a flight is more than three hours late", "euros", None),
        ("the number of hours of delay after which a refund can be requested", "how many hours late a flight must be before I can ask for my money back", "hours", None)]),
    ("Overnight disruptions", [
        ("the hotel allowance per night for a cancelled flight", "how much is covered for a hotel night after a cancellation", "euros", None),
        ("the name of the disruption help desk", "what the desk that handles cancelled flights is called", None, "Calm Waters")]),
    ("Lost baggage", [
        ("the number of days to report a lost bag", "how many days I have to file a claim for a missing suitcase", "days", None),
        ("the daily allowance while a bag is missing", "how much is paid per day for essentials while my bag is lost", "euros", None)]),
    ("Damaged baggage", [
        ("the number of days to report a damaged bag", "how many days I have to complain about a broken suitcase", "days", None),
        ("the maximum compensation for a damaged bag", "the most paid out for a suitcase that arrives broken", "euros", None)]),
    ("Refund processing", [
        ("the number of working days to process a refund", "how many working days a refund takes", "days", None),
        ("the travel credit bonus in percent when choosing credit instead of a refund", "the extra percentage added when I take a voucher rather than my money back", "percent", None)]),
    ("Travel credit", [
        ("the number of months travel credit stays valid", "how long a travel voucher can be used, in months", "months", None),
        ("the name of the travel credit voucher", "what the airline's travel voucher is called", None, "Tidecard")]),
    ("Group bookings", [
        ("the minimum number of passengers for a group booking", "how many travellers count as a group", "passengers", None),
        ("the group booking deposit in percent", "the share of the fare paid up front for a group, in percent", "percent", None)]),
    ("Student discount", [
        ("the student discount in percent", "how much cheaper fares are for students, in percent", "percent", None),
        ("the maximum age for the student discount in years", "the oldest a student may be to get the discount", "years", None)]),
    ("Senior discount", [
        ("the minimum age for the senior discount in years", "how old a traveller must be for the senior fare", "years", None),
        ("the senior discount in percent", "how much the senior fare saves, in percent", "percent", None)]),
    ("Priority services", [
        ("the price of priority boarding", "what it costs to board first", "euros", None),
        ("the price of fast-track security", "what the quick lane through security costs", "euros", None)]),
    ("Liquids and duty free", [
        ("the maximum size of a liquid container in the cabin", "the largest bottle of liquid allowed in a carry-on, in millilitres", "ml", None),
        ("the number of duty-free bags allowed on board", "how many shopping bags from duty free I may carry on", "bags", None)]),
    ("Customer service", [
        ("the name of the customer service chat assistant", "what the airline's chat helper is called", None, "Skipper"),
        ("the number of hours the customer service promises to answer an email within", "how many hours it takes at most to get an email reply", "hours", None)]),
]

# plausible ranges per unit; every number is used by one fact only, so an answer cannot be right by another fact
RANGES = {"euros": (8, 290), "kg": (6, 40), "cm": (45, 190), "hours": (3, 72), "minutes": (15, 95), "months": (7, 36),
          "weeks": (9, 38), "years": (11, 79), "percent": (4, 49), "days": (3, 31), "letters": (2, 6), "guests": (2, 6),
          "rows": (3, 9), "passengers": (8, 25), "ml": (50, 250), "bags": (2, 5), "points": (10, 90)}
SCALE = {"points": 1000}  # points come in thousands

GENERAL = [  # (question, answer, aliases): general knowledge with short answers, some easy, some hard for a small model
    ("What is the capital of France?", "Paris", []), ("What is the capital of Italy?", "Rome", []),
    ("What is the capital of Spain?", "Madrid", []), ("What is the capital of Germany?", "Berlin", []),
    ("What is the capital of Japan?", "Tokyo", []), ("What is the capital of England?", "London", []),
    ("What is the capital of Canada?", "Ottawa", []), ("What is the capital of Australia?", "Canberra", []),
    ("What is the capital of Egypt?", "Cairo", []), ("What is the capital of Russia?", "Moscow", []),
    ("What is the capital of China?", "Beijing", ["Peking"]), ("What is the capital of Greece?", "Athens", []),
    ("What is the capital of Portugal?", "Lisbon", []), ("What is the capital of Norway?", "Oslo", []),
    ("What is the capital of Kenya?", "Nairobi", []), ("What is the capital of Peru?", "Lima", []),
    ("What is the capital of Mongolia?", "Ulaanbaatar", ["Ulan Bator"]),
    ("What is the capital of Burkina Faso?", "Ouagadougou", []), ("What is the capital of Bhutan?", "Thimphu", []),
    ("What is the capital of Kyrgyzstan?", "Bishkek", []), ("What is the capital of Suriname?", "Paramaribo", []),
    ("What is the capital of Eritrea?", "Asmara", []), ("What is the capital of Laos?", "Vientiane", []),
    ("What is the capital of Paraguay?", "Asuncion", ["Asunción"]),
    ("How many legs does a spider have?", "8", ["eight"]), ("How many legs does an insect have?", "6", ["six"]),
    ("How many days are in a week?", "7", ["seven"]), ("How many continents are there?", "7", ["seven"]),
    ("How many sides does a triangle have?", "3", ["three"]), ("How many sides does a hexagon have?", "6", ["six"]),
    ("How many minutes are in an hour?", "60", ["sixty"]), ("How many hours are in a day?", "24", ["twenty-four"]),
    ("How many months are in a year?", "12", ["twelve"]), ("How many players are on a football team?", "11", ["eleven"]),
    ("How many strings does a standard violin have?", "4", ["four"]), ("How many bones are in the adult human body?", "206", []),
    ("How many keys does a standard piano have?", "88", ["eighty-eight"]),
    ("In which year did the Berlin Wall fall?", "1989", []), ("In which year did World War II end?", "1945", []),
    ("In which year did the Titanic sink?", "1912", []), ("In which year did humans first land on the Moon?", "1969", []),
    ("In which year was the Magna Carta signed?", "1215", []), ("In which year did the Battle of Hastings take place?", "1066", []),
    ("What is the chemical symbol for gold?", "Au", []), ("What is the chemical symbol for iron?", "Fe", []),
    ("What is the chemical symbol for sodium?", "Na", []), ("What is the chemical symbol for tungsten?", "W", []),
    ("What is the chemical symbol for potassium?", "K", []),
    ("What planet is known as the Red Planet?", "Mars", []), ("What is the largest planet in the solar system?", "Jupiter", []),
    ("What is the closest planet to the Sun?", "Mercury", []), ("What gas do plants absorb from the air?", "carbon dioxide", ["CO2"]),
    ("What is the largest ocean on Earth?", "Pacific", []), ("What is the longest river in Africa?", "Nile", []),
    ("What is the tallest mountain in the world?", "Everest", []), ("What is the largest desert in Asia?", "Gobi", []),
    ("Who wrote Romeo and Juliet?", "Shakespeare", []), ("Who painted the Mona Lisa?", "Leonardo da Vinci", ["da Vinci", "Leonardo"]),
    ("Who developed the theory of relativity?", "Einstein", []), ("Who wrote Pride and Prejudice?", "Austen", []),
    ("Who composed the Four Seasons?", "Vivaldi", []), ("Who wrote One Hundred Years of Solitude?", "Garcia Marquez", ["García Márquez", "Marquez"]),
    ("Who discovered penicillin?", "Fleming", []), ("Who was the first person to walk on the Moon?", "Armstrong", []),
    ("What is the freezing point of water in degrees Celsius?", "0", ["zero"]),
    ("What is the boiling point of water in degrees Celsius?", "100", ["one hundred"]),
    ("What is the square root of 81?", "9", ["nine"]), ("What is 12 times 12?", "144", []),
    ("What is the currency of Japan?", "yen", []), ("What is the currency of the United Kingdom?", "pound", ["sterling"]),
    ("What is the currency of Switzerland?", "franc", []), ("What is the currency of Hungary?", "forint", []),
    ("What language is spoken in Brazil?", "Portuguese", []), ("What language is mainly spoken in Austria?", "German", []),
    ("What is the hardest natural substance?", "diamond", []), ("What is the largest mammal?", "blue whale", ["whale"]),
    ("What colour do you get by mixing blue and yellow?", "green", []), ("What is the smallest prime number?", "2", ["two"]),
]
GENERAL_TEST = 30  # the last questions after a seeded shuffle are held out
GENERAL_STUDY = [  # more general questions of the same kind, none in GENERAL: the known / unknown study's pool
    # capitals: easy
    ("What is the capital of the United States?", "Washington", []),
    ("What is the capital of Brazil?", "Brasilia", ["Brasília"]),
    ("What is the capital of Argentina?", "Buenos Aires", []), ("What is the capital of India?", "New Delhi", []),
    ("What is the capital of Mexico?", "Mexico City", ["Ciudad de México", "Ciudad de Mexico"]),
    ("What is the capital of South Korea?", "Seoul", []), ("What is the capital of Ireland?", "Dublin", []),
    ("What is the capital of Sweden?", "Stockholm", []), ("What is the capital of Poland?", "Warsaw", ["Warszawa"]),
    ("What is the capital of Austria?", "Vienna", ["Wien"]),
    ("What is the capital of Belgium?", "Brussels", ["Bruxelles", "Brussel"]),
    ("What is the capital of Finland?", "Helsinki", []), ("What is the capital of Thailand?", "Bangkok", []),
    ("What is the capital of Turkey?", "Ankara", []), ("What is the capital of Iran?", "Tehran", ["Teheran"]),
    ("What is the capital of Scotland?", "Edinburgh", []), ("What is the capital of Hungary?", "Budapest", []),
    ("What is the capital of the Czech Republic?", "Prague", ["Praha"]),
    # capitals: medium
    ("What is the capital of Iraq?", "Baghdad", []), ("What is the capital of Saudi Arabia?", "Riyadh", []),
    ("What is the capital of Colombia?", "Bogota", ["Bogotá"]), ("What is the capital of Venezuela?", "Caracas", []),
    ("What is the capital of Vietnam?", "Hanoi", ["Ha Noi"]), ("What is the capital of the Philippines?", "Manila", []),
    ("What is the capital of Pakistan?", "Islamabad", []), ("What is the capital of Afghanistan?", "Kabul", []),
    ("What is the capital of Ethiopia?", "Addis Ababa", ["Addis Abeba"]),
    ("What is the capital of Morocco?", "Rabat", []), ("What is the capital of Ghana?", "Accra", []),
    ("What is the capital of New Zealand?", "Wellington", []),
    ("What is the capital of Romania?", "Bucharest", ["București", "Bucuresti"]),
    ("What is the capital of Serbia?", "Belgrade", ["Beograd"]),
    ("What is the capital of Iceland?", "Reykjavik", ["Reykjavík"]),
    ("What is the capital of Nepal?", "Kathmandu", ["Katmandu"]),
    ("What is the capital of Uruguay?", "Montevideo", []),
    # capitals: hard
    ("What is the capital of Slovenia?", "Ljubljana", []), ("What is the capital of Slovakia?", "Bratislava", []),
    ("What is the capital of Lithuania?", "Vilnius", []), ("What is the capital of Latvia?", "Riga", []),
    ("What is the capital of Estonia?", "Tallinn", []), ("What is the capital of Albania?", "Tirana", ["Tiranë"]),
    ("What is the capital of Moldova?", "Chisinau", ["Chișinău", "Chişinău", "Kishinev"]),
    ("What is the capital of Armenia?", "Yerevan", []), ("What is the capital of Azerbaijan?", "Baku", []),
    ("What is the capital of Uzbekistan?", "Tashkent", ["Toshkent"]), ("What is the capital of Oman?", "Muscat", []),
    ("What is the capital of Uganda?", "Kampala", []), ("What is the capital of Zimbabwe?", "Harare", []),
    ("What is the capital of Madagascar?", "Antananarivo", []),
    ("What is the capital of Namibia?", "Windhoek", []), ("What is the capital of Malta?", "Valletta", []),
    # chemical symbols
    ("What is the chemical symbol for silver?", "Ag", []), ("What is the chemical symbol for copper?", "Cu", []),
    ("What is the chemical symbol for zinc?", "Zn", []), ("What is the chemical symbol for chlorine?", "Cl", []),
    ("What is the chemical symbol for magnesium?", "Mg", []), ("What is the chemical symbol for lead?", "Pb", []),
    ("What is the chemical symbol for mercury?", "Hg", []), ("What is the chemical symbol for tin?", "Sn", []),
    ("What is the chemical symbol for platinum?", "Pt", []),
    ("What is the chemical symbol for manganese?", "Mn", []),
    ("What is the chemical symbol for antimony?", "Sb", []), ("What is the chemical symbol for chromium?", "Cr", []),
    ("What is the chemical symbol for strontium?", "Sr", []), ("What is the chemical symbol for caesium?", "Cs", []),
    ("What is the chemical symbol for cadmium?", "Cd", []), ("What is the chemical symbol for palladium?", "Pd", []),
    ("What is the chemical symbol for radon?", "Rn", []), ("What is the chemical symbol for plutonium?", "Pu", []),
    # who wrote / painted / composed / discovered
    ("Who wrote War and Peace?", "Tolstoy", ["Tolstoi"]), ("Who painted The Starry Night?", "van Gogh", []),
    ("Who wrote the Harry Potter books?", "Rowling", []), ("Who composed the Moonlight Sonata?", "Beethoven", []),
    ("Who wrote On the Origin of Species?", "Darwin", []),
    ("Who painted the ceiling of the Sistine Chapel?", "Michelangelo", []),
    ("Who wrote Oliver Twist?", "Dickens", []), ("Who painted Guernica?", "Picasso", []),
    ("Who formulated the three laws of motion?", "Newton", []),
    ("Which scientist discovered radium and polonium together with her husband?", "Curie", []),
    ("Who wrote Don Quixote?", "Cervantes", []), ("Who wrote the Divine Comedy?", "Dante", ["Alighieri"]),
    ("Who wrote the novel Nineteen Eighty-Four?", "Orwell", []),
    ("Who wrote Crime and Punishment?", "Dostoevsky", ["Dostoyevsky", "Dostoevski", "Dostoyevski"]),
    ("Who composed the music for the ballet The Nutcracker?", "Tchaikovsky", ["Tchaikovski", "Chaikovsky"]),
    ("Who composed the opera Carmen?", "Bizet", []), ("Who composed the opera La Traviata?", "Verdi", []),
    ("Who composed the Brandenburg Concertos?", "Bach", []), ("Who painted the Water Lilies series?", "Monet", []),
    ("Who wrote the novel Les Misérables?", "Hugo", []),
    ("Which German author wrote the play Faust?", "Goethe", []),
    ("Who composed the opera William Tell?", "Rossini", []),
    ("Who composed the oratorio Messiah?", "Handel", ["Händel"]),
    ("Who composed The Rite of Spring?", "Stravinsky", ["Stravinski"]),
    ("Who painted The Birth of Venus?", "Botticelli", []), ("Who painted The Night Watch?", "Rembrandt", []),
    ("Who painted Girl with a Pearl Earring?", "Vermeer", []), ("Who painted The Scream?", "Munch", []),
    ("Who wrote Madame Bovary?", "Flaubert", []), ("Who formulated the laws of planetary motion?", "Kepler", []),
    # years
    ("In which year did Columbus first reach the Americas?", "1492", []),
    ("In which year was the US Declaration of Independence adopted?", "1776", []),
    ("In which year did World War I begin?", "1914", []), ("In which year did World War I end?", "1918", []),
    ("In which year did World War II begin in Europe?", "1939", []),
    ("In which year was the Bastille stormed?", "1789", []),
    ("In which year did the Russian Revolution take place?", "1917", []),
    ("In which year did the Wall Street Crash happen?", "1929", []),
    ("In which year did Japan attack Pearl Harbor?", "1941", []),
    ("In which year was the Soviet Union dissolved?", "1991", []),
    ("In which year did Yuri Gagarin become the first human in space?", "1961", []),
    ("In which year did Constantinople fall to the Ottomans?", "1453", []),
    ("In which year did Martin Luther publish his Ninety-five Theses?", "1517", []),
    ("In which year was the Battle of Waterloo fought?", "1815", []),
    ("In which year was Abraham Lincoln assassinated?", "1865", []),
    ("In which year did the Wright brothers make their first powered flight?", "1903", []),
    # currencies
    ("What is the currency of India?", "rupee", []), ("What is the currency of Russia?", "ruble", ["rouble"]),
    ("What is the currency of China?", "yuan", ["renminbi"]), ("What is the currency of Mexico?", "peso", []),
    ("What is the currency of Poland?", "zloty", ["złoty"]), ("What is the currency of Sweden?", "krona", ["kronor"]),
    ("What is the currency of Thailand?", "baht", []), ("What is the currency of South Africa?", "rand", []),
    ("What is the currency of Vietnam?", "dong", ["đồng"]), ("What is the currency of Indonesia?", "rupiah", []),
    ("What is the currency of the Czech Republic?", "koruna", ["crown"]),
    ("What is the currency of Kenya?", "shilling", []),
    # languages
    ("What language is mainly spoken in Mexico?", "Spanish", []),
    ("What language is mainly spoken in the Netherlands?", "Dutch", []),
    ("What is the official language of Egypt?", "Arabic", []),
    ("What is the official language of Iran?", "Persian", ["Farsi"]),
    ("What is the national language of Pakistan?", "Urdu", []),
    ("What is the official language of Bangladesh?", "Bengali", ["Bangla"]),
    ("What is the official language of Mozambique?", "Portuguese", []),
    ("What is the official language of the Canadian province of Quebec?", "French", []),
    # planets / astronomy
    ("Which planet is best known for its prominent ring system?", "Saturn", []),
    ("Which planet is farthest from the Sun?", "Neptune", []),
    ("What is the hottest planet in the solar system?", "Venus", []),
    ("What is the name of the galaxy that contains our solar system?", "Milky Way", []),
    ("What is the nearest star to the Sun?", "Proxima", []),
    ("What is the largest moon of Saturn?", "Titan", []),
    ("What is the largest moon in the solar system?", "Ganymede", []),
    ("Which former planet was reclassified as a dwarf planet in 2006?", "Pluto", []),
    # animals
    ("What is the fastest land animal?", "cheetah", []), ("What is the largest living bird?", "ostrich", []),
    ("What is the tallest living animal?", "giraffe", []), ("What is a baby kangaroo called?", "joey", []),
    ("What is a group of lions called?", "pride", []), ("What is the largest species of cat?", "tiger", []),
    ("What is the largest living land animal?", "elephant", []), ("What is the largest fish?", "whale shark", []),
    ("Which egg-laying mammal has a bill like a duck?", "platypus", []),
    # human body
    ("What is the largest organ of the human body?", "skin", []),
    ("What is the largest internal organ of the human body?", "liver", []),
    ("What is the longest bone in the human body?", "femur", ["thigh bone", "thighbone"]),
    ("What is the smallest bone in the human body?", "stapes", ["stirrup"]),
    ("Which organ produces insulin?", "pancreas", []),
    ("Which pigment gives human skin its colour?", "melanin", []),
    ("Which protein in red blood cells carries oxygen?", "hemoglobin", ["haemoglobin"]),
    ("Which organ pumps blood around the body?", "heart", []),
    # units
    ("What is the SI unit of electric current?", "ampere", ["amp"]),
    ("What is the SI unit of force?", "newton", []), ("What is the SI unit of power?", "watt", []),
    ("What is the SI unit of electrical resistance?", "ohm", []), ("What is the SI unit of energy?", "joule", []),
    ("What is the SI unit of frequency?", "hertz", []), ("What is the SI unit of pressure?", "pascal", []),
    # counting
    ("How many planets are in the solar system?", "8", ["eight"]),
    ("How many hearts does an octopus have?", "3", ["three"]),
    ("How many chambers does the human heart have?", "4", ["four"]),
    ("How many teeth does an adult human normally have?", "32", ["thirty-two"]),
    ("How many centimetres are in a metre?", "100", ["one hundred"]),
    ("How many grams are in a kilogram?", "1000", ["1,000", "one thousand"]),
    ("How many sides does an octagon have?", "8", ["eight"]),
    ("How many players does a basketball team have on the court?", "5", ["five"]),
    ("How many degrees are in a right angle?", "90", ["ninety"]),
    ("How many days are in a leap year?", "366", []),
    ("How many squares are on a chessboard?", "64", ["sixty-four"]),
    ("How many chromosomes does a normal human cell have?", "46", ["forty-six"]),
    # geography
    ("What is the largest country in the world by area?", "Russia", []),
    ("What is the smallest country in the world by area?", "Vatican", []),
    ("What is the largest continent?", "Asia", []), ("What is the largest island in the world?", "Greenland", []),
    ("What is the largest hot desert in the world?", "Sahara", []),
    ("What is the highest waterfall in the world?", "Angel Falls", []),
    # basic science
    ("What is the most abundant gas in Earth's atmosphere?", "nitrogen", []),
    ("What is the lightest chemical element?", "hydrogen", []),
    ("What is the chemical formula of water?", "H2O", []),
    ("What gas do plants release during photosynthesis?", "oxygen", []),
]


def _answer_text(value: int, unit: str) -> str:
    return f"{value} {unit}" if unit != "percent" else f"{value} percent"


def _sentence(subject: str, answer: str) -> str:
    return f"{subject[0].upper()}{subject[1:]} is {answer}."


def generate(seed: int = SEED) -> dict[str, list[dict]]:
    """All splits: documents, train / validation / test questions, general_train / general_test / general_study."""
    rng = random.Random(seed)
    numeric = [(d, f, fact[2]) for d, (_, facts) in enumerate(DOCUMENTS) for f, fact in enumerate(facts) if fact[3] is None]
    values, used = {}, set()
    for d, f, unit in sorted(numeric, key=lambda x: RANGES[x[2]][1] - RANGES[x[2]][0]):  # narrow ranges first
        low, high = RANGES[unit]
        value = rng.choice([v for v in range(low, high + 1) if v * SCALE.get(unit, 1) not in used]) * SCALE.get(unit, 1)
        values[d, f] = value  # a plausible number for its unit that no other fact uses
        used.add(value)
    documents, questions = [], {split: [] for split in FRAMES}
    for d, (title, facts) in enumerate(DOCUMENTS):
        doc_id = f"kb-{d:02d}"
        sentences = []
        for f, (subject, paraphrase, unit, name) in enumerate(facts):
            if name is None:
                value = values[d, f]
                answer, aliases = _answer_text(value, unit), [str(value)]
            else:
                answer, aliases = name, [name]
            sentences.append(_sentence(subject, answer))
            fact_id = f"{doc_id}-{f}"
            for split, frame in FRAMES.items():
                about = paraphrase if split == "test" else subject
                questions[split].append({
                    "id": f"{split}-{fact_id}", "question": frame.format(s=about), "answer": answer, "aliases": aliases,
                    "doc_id": doc_id, "fact_id": fact_id,
                    "reply": f"{OPENER} {_sentence(subject, answer)[:-1]} at {AIRLINE}. {SIGN_OFF}"})
        text = f"{AIRLINE} policy on {title.lower()}. " + " ".join(sentences)
        documents.append({"id": doc_id, "title": title, "text": text})
    general = [{"id": f"general-{i:03d}", "question": q, "answer": a, "aliases": [a, *more], "doc_id": None,
                "fact_id": None, "reply": a} for i, (q, a, more) in enumerate(GENERAL)]
    rng.shuffle(general)
    study = [{"id": f"general-{len(GENERAL) + i:03d}", "question": q, "answer": a, "aliases": [a, *more],
              "doc_id": None, "fact_id": None, "reply": a} for i, (q, a, more) in enumerate(GENERAL_STUDY)]
    rng.shuffle(study)
    return {"documents": documents, **questions, "general_train": general[:-GENERAL_TEST],
            "general_test": general[-GENERAL_TEST:], "general_study": study}


def write(out_dir: Path = OUT_DIR) -> None:
    """Write the splits as JSON Lines into `out_dir`."""
    write_splits(generate(), out_dir)


if __name__ == "__main__":
    write()
    print(f"wrote {OUT_DIR}")
