// t_stage.cpp - one stage of the SPAdes-like workflow (t_workflow.py): a
// C++ program with OpenMP that reads the numbers of INPUT, transforms them
// chunk by chunk in a parallel loop, writes each chunk to a temporary file
// beside OUTPUT, then joins the temporary files into OUTPUT and deletes
// them, as an assembler's stage does. One line per chunk on stdout, so a
// checkpoint can fall in the middle of a stage.
//
//   t_stage STAGE INPUT OUTPUT
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace
{

constexpr int kChunks = 8;

std::uint64_t transform(std::uint64_t x, int stage)
{
	for (int i = 0; i < 2000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull + (std::uint64_t)stage;
	return x >> 1;
}

bool read_numbers(const std::string &path, std::vector<std::uint64_t> &out)
{
	std::ifstream in(path);
	std::uint64_t v;

	while (in >> v)
		out.push_back(v);
	return in.eof() && !out.empty();
}

void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, nullptr);
}

} // namespace

int main(int argc, char **argv)
{
	if (argc != 4) {
		std::cerr << "usage: t_stage STAGE INPUT OUTPUT\n";
		return 2;
	}
	const int stage = std::stoi(argv[1]);
	const std::string input = argv[2], output = argv[3];
	std::vector<std::uint64_t> v;

	if (!read_numbers(input, v)) {
		std::cout << "FAIL stage " << stage << ": cannot read " << input << std::endl;
		return 1;
	}
	const std::size_t per = (v.size() + kChunks - 1) / kChunks;
	for (int c = 0; c < kChunks; c++) {
		const std::size_t lo = c * per, hi = std::min(v.size(), lo + per);
		std::uint64_t sum = 0;

#pragma omp parallel for reduction(+ : sum) schedule(static)
		for (std::size_t i = lo; i < hi; i++) {
			v[i] = transform(v[i], stage);
			sum += v[i];
		}
		std::ofstream tmp(output + ".tmp." + std::to_string(c));
		for (std::size_t i = lo; i < hi; i++)
			tmp << v[i] << '\n';
		if (!tmp.flush()) {
			std::cout << "FAIL stage " << stage << ": cannot write chunk " << c
				  << std::endl;
			return 1;
		}
		std::cout << "stage " << stage << " chunk " << c << ": " << sum << std::endl;
		pause_ms(30);
	}
	std::ofstream out(output);
	for (int c = 0; c < kChunks; c++) {
		const std::string name = output + ".tmp." + std::to_string(c);
		std::ifstream tmp(name);

		out << tmp.rdbuf();
		tmp.close();
		std::remove(name.c_str());
	}
	return out.flush() ? 0 : 1;
}
